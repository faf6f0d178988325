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

    /// The trainer's settings for rows `inputWidth` wide.
    func settings(inputWidth: Int) -> SAETrainingSettings {
        SAETrainingSettings(
            architecture: architecture, width: width, k: k ?? 32, targetL0: l0, sparsityCoefficient: sparsityCoefficient,
            learningRate: lr, batchSize: batch, tokens: tokens, bandwidth: bandwidth, seed: seed,
            normalization: normalization ?? .scalar, inputWidth: inputWidth)
    }

    /// Whether a checkpoint's settings differ from these (a resumed run keeps the checkpoint's).
    func differs(from saved: SAETrainingSettings) -> Bool {
        saved.width != width || saved.architecture != architecture || saved.tokens != tokens || saved.batchSize != batch
            || (architecture == .topk && saved.k != k) || saved.learningRate != lr || saved.seed != seed
            || saved.normalization != normalization
    }
}
