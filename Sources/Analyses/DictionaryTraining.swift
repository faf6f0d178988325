import Foundation
import Lantern
import Training

/// What SAE and transcoder training share: the dictionary's size and sparsity, the data it sees,
/// and the optimiser.
public struct DictionaryTraining: Sendable, Equatable {
    public static let width = Field("width", .integer(1...1 << 24), "Latents (d_sae, or the transcoder's width).")
    public static let k = Field("k", .integer(1...1 << 24), "TopK: active latents per token.")
    public static let l0 = Field("l0", .number(0...Double(1 << 24)), "JumpReLU/ReLU: the L0 to steer the sparsity coefficient towards.")
    public static let arch = Field("arch", .string(choices: SAEArchitecture.allCases.map(\.rawValue)),
                                   "topk, jumprelu or relu (default: topk with --k, jumprelu with --l0).")
    public static let tokens = Field("tokens", .integer(1...JobFields.maxCount),
                                     "Training tokens (activation rows; passes over the data repeat if there are fewer).")
    public static let rows = Field("rows", .integer(1...JobFields.maxCount), "Train on the first N rows of --activations only (the rest held out).")
    public static let lr = Field("lr", .number(0...10), default: "0.0005", "Adam learning rate.")
    public static let batch = Field("batch", .integer(1...1 << 20), default: "4096", "Rows per step.")
    public static let sparsityCoefficient = Field("sparsity_coefficient", .number(0...Double.infinity),
                                                  "JumpReLU: L0 penalty coefficient (the starting value with --l0); ReLU: L1 coefficient.")
    public static let bandwidth = Field("bandwidth", .number(0...1000), default: "0.001",
                                        "JumpReLU: width of the straight-through estimators' rectangle kernel (inputs are scaled to E‖x‖² = 1).")
    public static let seed = Field("seed", .integer(0...Int.max), default: "0", "Seed for the initialisation and the batch order.")
    public static let normalize = Field("normalize", .string(choices: InputNormalization.allCases.map(\.rawValue)), default: "scalar",
                                        "Input normalisation: scalar (one factor making E‖x‖² = 1), per-dimension (each dimension centred and scaled to unit variance first, so that a few huge residual dimensions do not take the reconstruction) or per-dimension-sqrt (centred, divided by √σ); always folded back into the saved weights.")
    public static let checkpointEvery = Field("checkpoint_every", .integer(1...JobFields.maxCount), default: "200", "Steps between checkpoints.")
    public static let fields = [width, k, l0, arch, tokens, rows, lr, batch, sparsityCoefficient, bandwidth, seed, normalize, checkpointEvery]

    public var width: Int
    public var k: Int?
    public var l0: Double?
    public var arch: String?
    public var tokens: Int
    public var rows: Int?
    public var lr: Float
    public var batch: Int
    public var sparsityCoefficient: Double?
    public var bandwidth: Float
    public var seed: UInt64
    public var normalize: String
    public var checkpointEvery: Int

    public init(width: Int, k: Int? = nil, l0: Double? = nil, arch: String? = nil, tokens: Int, rows: Int? = nil, lr: Float = 5e-4,
                batch: Int = 4096, sparsityCoefficient: Double? = nil, bandwidth: Float = 0.001, seed: UInt64 = 0,
                normalize: String = "scalar", checkpointEvery: Int = 200) {
        self.width = width
        self.k = k
        self.l0 = l0
        self.arch = arch
        self.tokens = tokens
        self.rows = rows
        self.lr = lr
        self.batch = batch
        self.sparsityCoefficient = sparsityCoefficient
        self.bandwidth = bandwidth
        self.seed = seed
        self.normalize = normalize
        self.checkpointEvery = checkpointEvery
    }

    public init(json: RequestFields) throws {
        let seed = try json.int(Self.seed) ?? 0
        try JobFrontEnd().check(seed, Self.seed)
        self.init(width: try JobFields.required(try json.int(Self.width), Self.width), k: try json.int(Self.k), l0: try json.double(Self.l0),
                  arch: try json.string(Self.arch), tokens: try JobFields.required(try json.int(Self.tokens), Self.tokens),
                  rows: try json.int(Self.rows), lr: Float(try json.double(Self.lr) ?? 5e-4), batch: try json.int(Self.batch) ?? 4096,
                  sparsityCoefficient: try json.double(Self.sparsityCoefficient), bandwidth: Float(try json.double(Self.bandwidth) ?? 0.001),
                  seed: UInt64(seed), normalize: try json.string(Self.normalize) ?? "scalar",
                  checkpointEvery: try json.int(Self.checkpointEvery) ?? 200)
    }

    public func validate(_ f: JobFrontEnd) throws {
        try f.check(width, Self.width)
        try f.check(k, Self.k, 1...width)
        try f.check(l0, Self.l0, 0...Double(width), above: true)
        try f.check(tokens, Self.tokens)
        try f.check(rows, Self.rows)
        try f.check(lr, Self.lr, above: true)
        try f.check(batch, Self.batch)
        try f.check(sparsityCoefficient, Self.sparsityCoefficient)
        try f.check(bandwidth, Self.bandwidth, above: true)
        try f.check(checkpointEvery, Self.checkpointEvery)
        let (kName, l0Name, archName) = (f.name(Self.k), f.name(Self.l0), f.name(Self.arch))
        if (k == nil) == (l0 == nil) { throw AnalysisError.invalid("give \(kName) K (TopK) or \(l0Name) TARGET (JumpReLU/ReLU), one of them") }
        if let arch, SAEArchitecture(rawValue: arch) == nil { throw AnalysisError.invalid("\(archName) must be topk, jumprelu or relu, not '\(arch)'") }
        if architecture == .topk && k == nil { throw AnalysisError.invalid("\(archName) topk needs \(kName)") }
        if architecture != .topk && l0 == nil { throw AnalysisError.invalid("\(archName) \(architecture.rawValue) needs \(l0Name)") }
        if normalization == nil {
            throw AnalysisError.invalid("\(f.name(Self.normalize)) must be scalar, per-dimension or per-dimension-sqrt, not '\(normalize)'")
        }
    }

    public var architecture: SAEArchitecture { arch.flatMap(SAEArchitecture.init) ?? (k != nil ? .topk : .jumprelu) }
    public var normalization: InputNormalization? { InputNormalization(rawValue: normalize) }

    /// The rows to train on: the first `rows` of `harvested` (all without it). Asking for more
    /// rows than were harvested is an error, not a silently smaller run.
    func trainingRows(_ harvested: any ActivationSource, _ f: JobFrontEnd) throws -> any ActivationSource {
        guard let rows else { return harvested }
        guard rows <= harvested.rowCount else {
            let name = f.name(Self.rows)
            throw AnalysisError.invalid("\(name) \(rows): the activations hold only \(harvested.rowCount) rows (harvest more, or give \(name) ≤ \(harvested.rowCount))")
        }
        return RowPrefix(harvested, rows: rows)
    }

    /// The trainer's settings for rows `inputWidth` wide.
    public func settings(inputWidth: Int) -> SAETrainingSettings {
        SAETrainingSettings(
            architecture: architecture, width: width, k: k ?? 32, targetL0: l0, sparsityCoefficient: sparsityCoefficient,
            learningRate: lr, batchSize: batch, tokens: tokens, bandwidth: bandwidth, seed: seed,
            normalization: normalization ?? .scalar, inputWidth: inputWidth)
    }

    /// The fields whose values differ from a checkpoint's settings, each as "--field this (checkpoint: that)".
    /// A resumed run continues the checkpoint's run byte for byte, so any difference is refused.
    func differences(from saved: SAETrainingSettings, _ f: JobFrontEnd) -> [String] {
        let now = settings(inputWidth: 0)
        var found: [String] = []
        func compare<T: Equatable>(_ field: Field, _ mine: T, _ theirs: T) {
            if mine != theirs { found.append("\(f.name(field)) \(mine) (checkpoint: \(theirs))") }
        }
        compare(Self.arch, now.architecture.rawValue, saved.architecture.rawValue)
        compare(Self.width, now.width, saved.width)
        if now.architecture == .topk && saved.architecture == .topk { compare(Self.k, now.k, saved.k) }
        if now.architecture != .topk && saved.architecture != .topk {
            compare(Self.l0, now.targetL0.map { "\($0)" } ?? "none", saved.targetL0.map { "\($0)" } ?? "none")
            compare(Self.sparsityCoefficient, now.sparsityCoefficient, saved.sparsityCoefficient)
            compare(Self.bandwidth, now.bandwidth, saved.bandwidth)
        }
        compare(Self.tokens, now.tokens, saved.tokens)
        compare(Self.batch, now.batchSize, saved.batchSize)
        compare(Self.lr, now.learningRate, saved.learningRate)
        compare(Self.seed, now.seed, saved.seed)
        compare(Self.normalize, now.normalization.rawValue, saved.normalization.rawValue)
        return found
    }

    /// Refuses a run whose parameters (encoder and decoder with Adam's two moments each, a
    /// transcoder's skip) and per-step arrays (the batch's pre-activations, codes and their
    /// gradients) would not fit in memory, before the trainer allocates them.
    func checkMemory(inputWidth d: Int, skip: Bool = false, _ f: JobFrontEnd) throws {
        let float = MemoryLayout<Float>.size
        try f.checkMemory([[6, width, d, float], [6, batch, width, float], [6, batch, d, float], skip ? [3, d, d, float] : [0]],
                          "\(f.name(Self.width)) \(width) and \(f.name(Self.batch)) \(batch) on \(d)-wide rows")
    }
}

/// What a training run read, saved beside its checkpoint (`run.json`) so that a resumed run is
/// refused on other data: the activations folder (absolute) and the rows trained on. The
/// checkpoint itself holds the optimiser's settings.
public struct TrainingRun: Codable, Equatable, Sendable {
    var activations: String
    var rows: Int

    init(activations: String, rows: Int) {
        self.activations = Self.absolute(activations)
        self.rows = rows
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    static func file(in folder: String) -> String { (folder as NSString).appendingPathComponent("run.json") }

    /// Whether a run's file (its checkpoint, its run.json) is at `path`. Anything there that cannot
    /// be read as a file (a dangling link, a symlink loop) is an error, not "no file": that would
    /// restart the run from step 0 over the existing one.
    public static func fileExists(_ path: String) throws -> Bool {
        var status = stat()
        guard lstat(path, &status) == 0 else { return false }   // nothing there at all
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw AnalysisError.invalid("\(path) exists but is not a readable file (a directory, a dangling link or a symlink loop): fix or remove it")
        }
        return true
    }

    /// run.json as Lantern writes it: `{"activations": path, "rows": count}`.
    static let schema = ConfigSchema([.init("activations", .string, .required()), .init("rows", .integer(0...Int.max), .required())])

    static func load(folder: String) throws -> TrainingRun {
        let values = try schema.read(path: file(in: folder))
        return TrainingRun(stored: try values.required("activations", values.string), rows: try values.required("rows", values.int))
    }

    /// As read back: the path is kept as written.
    private init(stored activations: String, rows: Int) {
        self.activations = activations
        self.rows = rows
    }

    func save(folder: String) throws {
        try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: Self.file(in: folder)), options: .atomic)
    }

    /// Refuses to resume `trainer` when this request's settings or data differ from the run that
    /// wrote its checkpoint, listing every difference. (Checkpoints from before run.json was
    /// written are checked on their settings alone.)
    static func checkResume(_ trainer: SAETrainer, training: DictionaryTraining, activations: String, rows: Int,
                            folder: String, skip: (Bool, Field)? = nil, _ f: JobFrontEnd) throws {
        var differences = training.differences(from: trainer.settings, f)
        if let (skip, field) = skip, skip != trainer.settings.skipConnection {
            differences.append("\(f.name(field)) \(skip) (checkpoint: \(trainer.settings.skipConnection))")
        }
        let resume = f.name(JobFields.resume)
        if try fileExists(file(in: folder)) {
            let saved = try load(folder: folder)
            let now = TrainingRun(activations: activations, rows: rows)
            if now.activations != saved.activations {
                differences.append("\(f.name(JobFields.activations)) \(now.activations) (checkpoint: \(saved.activations))")
            }
            if now.rows != saved.rows {
                differences.append("\(now.rows) rows (checkpoint: \(saved.rows); \(f.name(DictionaryTraining.rows)) or the harvest changed)")
            }
        }
        if trainer.parameters.inputWidth != trainer.source.width {
            differences.append("\(trainer.source.width)-wide rows (checkpoint: \(trainer.parameters.inputWidth))")
        }
        guard differences.isEmpty else {
            throw AnalysisError.invalid("\(resume): this command differs from the checkpoint's run: \(differences.joined(separator: "; ")) — repeat the original command, or train into another \(f.name(JobFields.out))")
        }
    }

    /// Many passes over few rows memorise them: say so, and how to get a held-out figure.
    static func warnAboutPasses(tokens: Int, rows: Int, held: Int, _ f: JobFrontEnd) {
        let passes = Double(tokens) / Double(max(rows, 1))
        guard passes > 4 else { return }
        f.notice(String(format: "warning: %@ %d makes %.0f passes over %d rows: the dictionary may fit these rows rather than the hook; harvest more tokens, or keep rows back (%@) and check them with `sae eval --activations`",
                        f.name(DictionaryTraining.tokens), tokens, passes, rows, f.name(DictionaryTraining.rows))
                 + (held > 0 ? " (\(held) rows are held out)" : ""))
    }
}
