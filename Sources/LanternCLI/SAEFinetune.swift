import Analyses
import ArgumentParser
import Foundation

/// `lantern sae finetune`: a TopK SAE fine-tuned end to end on the model's next-token
/// distributions (`SAEFinetuneRequest`).
struct SAEFinetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: SAEFinetuneRequest.summary,
        discussion: """
            The SAE's reconstructions replace the hook's activations at every position but BOS; Adam lowers the mean \
            KL between the clean and the spliced next-token distributions plus --reconstruction-weight times its \
            reconstruction error, over contexts of --context tokens of the corpus. k stays fixed, so L0 does not move. \
            Each token costs two forward passes and a backward pass from the logits to the hook (Gemma 3 270M: \
            ≈ 2 GFLOP per token). Writes OUT/cfg.json and OUT/sae_weights.safetensors (SAELens format); \
            OUT/checkpoint.safetensors every --checkpoint-every steps (continue with --resume).
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: ArgumentHelp(SAEFinetuneRequest.sae))
    var sae: String

    @Option(name: .long, help: ArgumentHelp(SAEFinetuneRequest.out))
    var out: String

    @Option(name: .long, help: ArgumentHelp(SAEFinetuneRequest.tokens))
    var tokens: Int

    @Option(name: .long, help: ArgumentHelp(SAEFinetuneRequest.context))
    var context = 128

    @Option(name: .long, help: ArgumentHelp(SAEFinetuneRequest.batch))
    var batch = 4

    @Option(name: .long, help: ArgumentHelp(SAEFinetuneRequest.lr))
    var lr: Float = 1e-4

    @Option(name: .customLong("reconstruction-weight"), help: ArgumentHelp(SAEFinetuneRequest.reconstructionWeight))
    var reconstructionWeight = 1.0

    @Option(name: .long, help: ArgumentHelp(SAEFinetuneRequest.stride))
    var stride = 1

    @Option(name: .customLong("checkpoint-every"), help: ArgumentHelp(SAEFinetuneRequest.checkpointEvery))
    var checkpointEvery = 10

    @Flag(name: .long, help: "Continue the run whose checkpoint is in OUT (same settings).")
    var resume = false

    @Option(name: .long, help: ArgumentHelp(SAEFinetuneRequest.dtype))
    var dtype = "f32"

    var request: SAEFinetuneRequest {
        SAEFinetuneRequest(model: model.job, corpus: corpus.source, sae: sae, out: out, tokens: tokens, context: context, batch: batch, lr: lr,
                           reconstructionWeight: reconstructionWeight, stride: stride, checkpointEvery: checkpointEvery, resume: resume, dtype: dtype)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws { try JobOutput.run(request) }
}
