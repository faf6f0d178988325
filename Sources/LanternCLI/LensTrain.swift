import Analyses
import ArgumentParser
import Foundation

/// `lantern lens train`: a tuned lens for the model, trained on a corpus (`LensTrainRequest`).
struct LensTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: LensTrainRequest.summary,
        discussion: """
            Translators start at zero (the logit lens), at a least-squares fit (--init least-squares: each the affine \
            map that best predicts the last residual, in seconds) or at another lens, and are trained with Adam on the model's own activations \
            over the corpus (contexts of --context tokens, BOS first, BOS positions left out). Each token costs two \
            products with the unembedding per layer, so on a CPU this is slow for large vocabularies: Gemma 3 270M \
            (vocab 262,144, ≈ 12 GFLOP per token) trains at about 4 tokens per CPU-second (8 tokens/s on 2 idle cores). Writes OUT/config.json (the tuned-lens package's \
            fields) and OUT/params.safetensors ({i}.weight [d, d], {i}.bias [d]).
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: ArgumentHelp(LensTrainRequest.out))
    var out: String

    @Option(name: .long, help: ArgumentHelp(LensTrainRequest.tokens))
    var tokens: Int

    @Option(name: .long, help: "Tokens per context, BOS included.")
    var context = 128

    @Option(name: .long, help: ArgumentHelp(LensTrainRequest.batch))
    var batch = 4

    @Option(name: .long, help: ArgumentHelp(LensTrainRequest.lr))
    var lr: Float = 1e-2

    @Option(name: .long, help: ArgumentHelp(LensTrainRequest.stride))
    var stride = 1

    @Option(name: .long, help: ArgumentHelp(LensTrainRequest.dtype))
    var dtype = "f16"

    @Option(name: .customLong("init"), help: ArgumentHelp(LensTrainRequest.start))
    var start = "zero"

    @Option(name: .customLong("init-tokens"), help: ArgumentHelp(LensTrainRequest.initTokens))
    var initTokens = 16384

    @Option(name: .customLong("checkpoint-every"), help: ArgumentHelp(LensTrainRequest.checkpointEvery))
    var checkpointEvery = 10

    @Flag(name: .long, help: ArgumentHelp(LensTrainRequest.resume))
    var resume = false

    var request: LensTrainRequest {
        LensTrainRequest(model: model.job, corpus: corpus.source, out: out, tokens: tokens, context: context, batch: batch, lr: lr,
                         stride: stride, dtype: dtype, start: start, initTokens: initTokens,
                         checkpointEvery: checkpointEvery, resume: resume)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws { try JobOutput.run(request) }
}
