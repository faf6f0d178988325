import ArgumentParser
import Foundation
import Lantern
import Training

/// `lantern sae train`: a TopK, JumpReLU or ReLU SAE on harvested activations, saved for SAELens.
struct SAETrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a sparse autoencoder on one hook's activations (output in SAELens format).",
        discussion: """
            Reads activations that `lantern harvest` wrote (--activations DIR), or harvests --tokens rows \
            into OUT/activations first. Writes OUT/checkpoint.safetensors every --checkpoint-every steps \
            (continue with --resume) and, at the end, OUT/cfg.json + OUT/sae_weights.safetensors.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: "The hook the SAE reads (e.g. blocks.6.hook_resid_post).")
    var hook: String

    @Option(name: .long, help: "Latents (d_sae).")
    var width: Int

    @Option(name: .long, help: "TopK: active latents per token.")
    var k: Int?

    @Option(name: .long, help: "JumpReLU/ReLU: the L0 to steer the sparsity coefficient towards.")
    var l0: Double?

    @Option(name: .long, help: "topk, jumprelu or relu (default: topk with --k, jumprelu with --l0).")
    var arch: String?

    @Option(name: .long, help: "Training tokens (activation rows; passes over the data repeat if there are fewer).")
    var tokens: Int

    @Option(name: .long, help: "A directory `lantern harvest` wrote.")
    var activations: String?

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

    @Option(name: .long, help: "Output directory.")
    var out = "sae"

    @Flag(name: .long, help: "Continue from OUT/checkpoint.safetensors.")
    var resume = false

    @Option(name: .long, help: "Steps between checkpoints.")
    var checkpointEvery = 200

    @Option(name: .long, help: "Tokens per context when harvesting first (without --activations).")
    var context = 128

    func validate() throws {
        if (k == nil) == (l0 == nil) { throw ValidationError("give --k K (TopK) or --l0 TARGET (JumpReLU/ReLU), one of them") }
        if let arch, SAEArchitecture(rawValue: arch) == nil { throw ValidationError("--arch must be topk, jumprelu or relu") }
        if architecture == .topk && k == nil { throw ValidationError("--arch topk needs --k") }
        if architecture != .topk && l0 == nil { throw ValidationError("--arch \(architecture.rawValue) needs --l0") }
    }

    var architecture: SAEArchitecture { arch.flatMap(SAEArchitecture.init) ?? (k != nil ? .topk : .jumprelu) }

    func run() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // With harvested activations the model itself is not needed, only a backend.
        let (source, backend) = try activationsAndBackend()
        guard source.hook == hook else {
            throw ValidationError("\(activations ?? out) holds \(source.hook), not --hook \(hook)")
        }
        let checkpoint = (out as NSString).appendingPathComponent("checkpoint.safetensors")
        let trainer: SAETrainer
        if resume {
            guard FileManager.default.fileExists(atPath: checkpoint) else { throw ValidationError("--resume: no \(checkpoint)") }
            trainer = try SAETrainer.resume(checkpoint: checkpoint, source: source, backend: backend)
            note("resuming at step \(trainer.step) of \(trainer.totalSteps)")
            let saved = trainer.settings
            if saved.width != width || saved.architecture != architecture || saved.tokens != tokens || saved.batchSize != batch
                || (architecture == .topk && saved.k != k) || saved.learningRate != lr || saved.seed != seed {
                note("note: the checkpoint's settings apply (\(saved.architecture.rawValue), width \(saved.width), k \(saved.k), \(saved.tokens) tokens, batch \(saved.batchSize), lr \(saved.learningRate), seed \(saved.seed)), not this command's")
            }
        } else {
            guard !FileManager.default.fileExists(atPath: checkpoint) else {
                throw ValidationError("\(checkpoint) exists: pass --resume to continue it, or another --out")
            }
            let settings = SAETrainingSettings(
                architecture: architecture, width: width, k: k ?? 32, targetL0: l0, sparsityCoefficient: sparsityCoefficient,
                learningRate: lr, batchSize: batch, tokens: tokens, bandwidth: bandwidth, seed: seed, inputWidth: source.width)
            trainer = try SAETrainer(settings: settings, source: source, backend: backend)
        }
        note("\(architecture.rawValue) SAE \(source.width) → \(trainer.settings.width) on \(source.rowCount) rows of \(hook); \(trainer.totalSteps) steps of \(trainer.settings.batchSize)")

        let bar = Progress(total: trainer.totalSteps, label: "train")
        let firstStep = trainer.step
        var last: SAEBatchResult?
        while !trainer.isFinished {
            last = try trainer.trainStep()
            let rate = Double((trainer.step - firstStep) * trainer.settings.batchSize) / max(Date().timeIntervalSince(bar.start), 1e-9)
            bar.update(trainer.step, detail: String(format: "loss %.4f L0 %.1f EV %.3f dead %.1f%% %.0f tokens/s",
                                                    last!.loss, last!.l0, last!.explainedVariance, trainer.deadFraction * 100, rate))
            if trainer.step % checkpointEvery == 0 || trainer.isFinished { try trainer.state.save(path: checkpoint) }
        }
        bar.finish()
        let seconds = Date().timeIntervalSince(bar.start)
        let trained = (trainer.step - firstStep) * trainer.settings.batchSize
        try SAELensExport.write(
            trainer.parameters, architecture: trainer.settings.architecture, k: trainer.settings.k,
            description: .init(hookName: hook, hookLayer: SAELensExport.layer(ofHook: hook), modelName: source.modelName,
                               contextSize: source.context, dataset: activations ?? corpus.corpus.joined(separator: ",")),
            training: ["tokens": trainer.settings.tokens, "batch_size": trainer.settings.batchSize, "seed": Int(trainer.settings.seed),
                       "learning_rate": Double("\(trainer.settings.learningRate)") ?? 0, "final_sparsity_coefficient": trainer.sparsityCoefficient],
            to: out)
        if let last {
            note(String(format: "last batch: loss %.4f, L0 %.1f, explained variance %.3f, dead %.1f%%",
                        last.loss, last.l0, last.explainedVariance, trainer.deadFraction * 100))
        }
        note(String(format: "trained on %d tokens in %.1fs (%.0f tokens/s); wrote %@/cfg.json and sae_weights.safetensors",
                    trained, seconds, seconds > 0 ? Double(trained) / seconds : 0, out))
    }

    func activationsAndBackend() throws -> (HarvestedActivations, any Backend) {
        if let activations { return (try HarvestedActivations(directory: activations), try model.makeBackend()) }
        let loaded = try model.load()
        let directory = (out as NSString).appendingPathComponent("activations")
        let options = try HarvestOptions.parse(["--hook", hook, "--tokens", "\(tokens)", "--context", "\(context)"])
        try options.run(loaded, corpus: corpus, output: directory)
        return (try HarvestedActivations(directory: directory), loaded.backend)
    }
}
