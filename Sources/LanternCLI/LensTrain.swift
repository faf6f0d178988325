import ArgumentParser
import Foundation
import Lantern
import Training

/// `lantern lens train`: a tuned lens for the model, trained on a corpus.
struct LensTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a tuned lens (Belrose et al. 2023): one affine translator per layer, minimising KL(final ‖ lens).",
        discussion: """
            Translators start at zero (the logit lens) and are trained with Adam on the model's own activations \
            over the corpus (contexts of --context tokens, BOS first, BOS positions left out). Each token costs two \
            products with the unembedding per layer, so on a CPU this is slow for large vocabularies: Gemma 3 270M \
            (vocab 262,144, ≈ 12 GFLOP per token) trains at about 2 tokens per CPU-second (4–5 tokens/s on 2 idle cores). Writes OUT/config.json (the tuned-lens package's \
            fields) and OUT/params.safetensors ({i}.weight [d, d], {i}.bias [d]).
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: "Output folder.")
    var out: String

    @Option(name: .long, help: "Training tokens (positions; BOS left out).")
    var tokens: Int

    @Option(name: .long, help: "Tokens per context, BOS included.")
    var context = 128

    @Option(name: .long, help: "Contexts per Adam step.")
    var batch = 4

    @Option(name: .long, help: "Adam learning rate (the weights take lr/√d, each bias lr × its layer's residual RMS).")
    var lr: Float = 1e-2

    @Option(name: .long, help: "Use every N-th context of the corpus (spreads a short run over more of the text).")
    var stride = 1

    @Option(name: .long, help: "Storage of the saved parameters: f16 or f32.")
    var dtype = "f16"

    func validate() throws {
        try OptionCheck.integer(tokens, "--tokens", 1...OptionCheck.maxCount)
        try OptionCheck.integer(context, "--context", 2...1 << 20)
        try OptionCheck.integer(batch, "--batch", 1...1_000_000)
        try OptionCheck.number(lr, "--lr", 0...10, above: true)
        try OptionCheck.integer(stride, "--stride", 1...1 << 20)
        if tokens < 1 { throw ValidationError("--tokens must be ≥ 1") }
        if batch < 1 { throw ValidationError("--batch must be ≥ 1") }
        if stride < 1 { throw ValidationError("--stride must be ≥ 1") }
        if !["f16", "f32"].contains(dtype) { throw ValidationError("--dtype must be f16 or f32, got '\(dtype)'") }
    }

    func run() throws {
        let loaded = try model.load(manyPasses: true)
        let options = TunedLensTrainer.Options(tokens: tokens, context: context, contextsPerStep: batch, learningRate: lr,
                                                contextStride: stride)
        let trainer = try TunedLensTrainer(model: loaded.transformer, packer: try corpus.packer(for: loaded, length: context), options: options)
        var lens = TunedLens(for: loaded.transformer, name: (loaded.source as NSString).lastPathComponent)
        let bar = Progress(total: options.steps, label: "lens train")
        var last: TunedLensTrainer.Step?
        try trainer.train(&lens) { step in
            last = step
            let mean = step.kl.reduce(0, +) / Double(step.kl.count)
            let rate = Double(step.tokens) / max(Date().timeIntervalSince(bar.start), 1e-9)
            bar.update(step.step, detail: String(format: "step %d/%d, mean KL %.3f nats, %.1f tokens/s", step.step, step.steps, mean, rate))
        }
        bar.finish()
        let seconds = Date().timeIntervalSince(bar.start)
        let training: [String: Any] = [
            "tokens": last?.tokens ?? 0, "steps": options.steps, "context": context, "contexts_per_step": batch, "context_stride": stride, "lr": Double(lr),
            "corpus": try corpus.files().map { ($0 as NSString).lastPathComponent }, "seconds": Int(seconds.rounded()),
            "dtype": dtype, "last_step_kl": last?.kl ?? [],
        ]
        try lens.save(directory: out, dtype: dtype == "f16" ? .f16 : .f32, extra: ["lantern_training": training])
        note(String(format: "trained %d translators on %d tokens in %.0fs; wrote %@ (measure it: lantern lens eval --tuned %@ --corpus HELD-OUT)",
                    lens.config.layerCount, last?.tokens ?? 0, seconds, out, out))
    }
}
