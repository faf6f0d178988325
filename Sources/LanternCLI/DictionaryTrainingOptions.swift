import ArgumentParser
import Foundation
import Training

/// What `sae train` and `transcoder train` share: the dictionary's size and sparsity, the data
/// it sees, and the optimiser.
struct DictionaryTrainingOptions: ParsableArguments {
    @Option(name: .long, help: "Latents (d_sae, or the transcoder's width).")
    var width: Int

    @Option(name: .long, help: "TopK: active latents per token.")
    var k: Int?

    @Option(name: .long, help: "JumpReLU/ReLU: the L0 to steer the sparsity coefficient towards.")
    var l0: Double?

    @Option(name: .long, help: "topk, jumprelu or relu (default: topk with --k, jumprelu with --l0).")
    var arch: String?

    @Option(name: .long, help: "Training tokens (activation rows; passes over the data repeat if there are fewer).")
    var tokens: Int

    @Option(name: .long, help: "Train on the first N rows of --activations only (the rest held out).")
    var rows: Int?

    @Option(name: .long, help: "Adam learning rate.")
    var lr: Float = 5e-4

    @Option(name: .long, help: "Rows per step.")
    var batch = 4096

    @Option(name: .long, help: "JumpReLU: L0 penalty coefficient (the starting value with --l0); ReLU: L1 coefficient.")
    var sparsityCoefficient: Double?

    @Option(name: .long, help: "JumpReLU: width of the straight-through estimators' rectangle kernel (inputs are scaled to E‖x‖² = 1).")
    var bandwidth: Float = 0.001

    @Option(name: .long, help: "Seed for the initialisation and the batch order.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Input normalisation: scalar (one factor making E‖x‖² = 1), per-dimension (each dimension centred and scaled to unit variance first, so that a few huge residual dimensions do not take the reconstruction) or per-dimension-sqrt (centred, divided by √σ); always folded back into the saved weights.")
    var normalize = "scalar"

    @Option(name: .long, help: "Steps between checkpoints.")
    var checkpointEvery = 200

    func validate() throws {
        try OptionCheck.integer(width, "--width", 1...1 << 24)
        try OptionCheck.integer(k, "--k", 1...width)
        try OptionCheck.number(l0, "--l0", 0...Double(width), above: true)
        try OptionCheck.integer(tokens, "--tokens", 1...OptionCheck.maxCount)
        try OptionCheck.integer(rows, "--rows", 1...OptionCheck.maxCount)
        try OptionCheck.number(lr, "--lr", 0...10, above: true)
        try OptionCheck.integer(batch, "--batch", 1...1 << 20)
        try OptionCheck.number(sparsityCoefficient, "--sparsity-coefficient", 0...Double.infinity)
        try OptionCheck.number(bandwidth, "--bandwidth", 0...1000, above: true)
        try OptionCheck.integer(checkpointEvery, "--checkpoint-every", 1...OptionCheck.maxCount)
        if (k == nil) == (l0 == nil) { throw ValidationError("give --k K (TopK) or --l0 TARGET (JumpReLU/ReLU), one of them") }
        if let arch, SAEArchitecture(rawValue: arch) == nil { throw ValidationError("--arch must be topk, jumprelu or relu, not '\(arch)'") }
        if architecture == .topk && k == nil { throw ValidationError("--arch topk needs --k") }
        if architecture != .topk && l0 == nil { throw ValidationError("--arch \(architecture.rawValue) needs --l0") }
        if let rows, rows < 1 { throw ValidationError("--rows must be at least 1, not \(rows)") }
        if normalization == nil { throw ValidationError("--normalize must be scalar, per-dimension or per-dimension-sqrt, not '\(normalize)'") }
        if checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1, not \(checkpointEvery)") }
    }

    var architecture: SAEArchitecture { arch.flatMap(SAEArchitecture.init) ?? (k != nil ? .topk : .jumprelu) }
    var normalization: InputNormalization? { InputNormalization(rawValue: normalize) }

    /// The rows to train on: the first --rows of `harvested` (all without it). Asking for more
    /// rows than were harvested is an error, not a silently smaller run.
    func trainingRows(_ harvested: any ActivationSource) throws -> any ActivationSource {
        guard let rows else { return harvested }
        guard rows <= harvested.rowCount else {
            throw ValidationError("--rows \(rows): the activations hold only \(harvested.rowCount) rows (harvest more, or give --rows ≤ \(harvested.rowCount))")
        }
        return RowPrefix(harvested, rows: rows)
    }

    /// The trainer's settings for rows `inputWidth` wide.
    func settings(inputWidth: Int) -> SAETrainingSettings {
        SAETrainingSettings(
            architecture: architecture, width: width, k: k ?? 32, targetL0: l0, sparsityCoefficient: sparsityCoefficient,
            learningRate: lr, batchSize: batch, tokens: tokens, bandwidth: bandwidth, seed: seed,
            normalization: normalization ?? .scalar, inputWidth: inputWidth)
    }

    /// The flags whose values differ from a checkpoint's settings, each as "--flag this (checkpoint: that)".
    /// A resumed run continues the checkpoint's run byte for byte, so any difference is refused.
    func differences(from saved: SAETrainingSettings) -> [String] {
        let now = settings(inputWidth: 0)
        var found: [String] = []
        func compare<T: Equatable>(_ flag: String, _ mine: T, _ theirs: T) {
            if mine != theirs { found.append("\(flag) \(mine) (checkpoint: \(theirs))") }
        }
        compare("--arch", now.architecture.rawValue, saved.architecture.rawValue)
        compare("--width", now.width, saved.width)
        if now.architecture == .topk && saved.architecture == .topk { compare("--k", now.k, saved.k) }
        if now.architecture != .topk && saved.architecture != .topk {
            compare("--l0", now.targetL0.map { "\($0)" } ?? "none", saved.targetL0.map { "\($0)" } ?? "none")
            compare("--sparsity-coefficient", now.sparsityCoefficient, saved.sparsityCoefficient)
            compare("--bandwidth", now.bandwidth, saved.bandwidth)
        }
        compare("--tokens", now.tokens, saved.tokens)
        compare("--batch", now.batchSize, saved.batchSize)
        compare("--lr", now.learningRate, saved.learningRate)
        compare("--seed", now.seed, saved.seed)
        compare("--normalize", now.normalization.rawValue, saved.normalization.rawValue)
        return found
    }

    /// Refuses a run whose parameters (encoder and decoder with Adam's two moments each, a
    /// transcoder's skip) and per-step arrays (the batch's pre-activations, codes and their
    /// gradients) would not fit in memory, before the trainer allocates them.
    func checkMemory(inputWidth d: Int, skip: Bool = false) throws {
        let terms = [[6, width, d], [6, batch, width], [6, batch, d], skip ? [3, d, d] : [0]]
        var total: Int? = 0
        for term in terms {
            guard let bytes = OptionCheck.bytes(term + [MemoryLayout<Float>.size]), let sum = total else { total = nil; break }
            let (added, overflow) = sum.addingReportingOverflow(bytes)
            total = overflow ? nil : added
        }
        try OptionCheck.fitsInMemory(total, "--width \(width) and --batch \(batch) on \(d)-wide rows")
    }
}
