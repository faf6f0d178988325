import Analyses
import ArgumentParser
import Foundation

/// `lantern transcoder`: MLP transcoders — sparse features that read an MLP's input and write its
/// output — harvested, trained and evaluated per layer.
struct TranscoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcoder",
        abstract: "Per-layer MLP transcoders: harvest (input, output) pairs, train, evaluate.",
        subcommands: [TranscoderHarvest.self, TranscoderTrain.self, TranscoderEval.self]
    )
}

/// `lantern transcoder harvest`: every chosen layer's MLP input and output from one forward pass.
struct TranscoderHarvest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "harvest",
        abstract: TranscoderHarvestRequest.summary,
        discussion: """
            One forward pass per context reads all the chosen layers at once, so N tokens cost one \
            harvest, not one per layer. Storage: tokens × layers × 2 × d_model × 4 bytes (Gemma 3 270M, \
            300k tokens, 18 layers: 28 GB); resumable and splittable like `lantern harvest`.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: ArgumentHelp(TranscoderHarvestRequest.tokens))
    var tokens: Int

    @Option(name: .long, help: ArgumentHelp(LayerSelection.field))
    var layers = "all"

    @Option(name: .long, help: ArgumentHelp(HarvestRequest.context))
    var context = 128

    @Option(name: .long, help: ArgumentHelp(TranscoderHarvestRequest.batch))
    var batch = 16

    @Option(name: .long, help: ArgumentHelp(HarvestRequest.dtype))
    var dtype = "f32"

    @Option(name: .long, help: ArgumentHelp(JobFields.out))
    var out: String

    var request: TranscoderHarvestRequest {
        TranscoderHarvestRequest(model: model.job, corpus: corpus.source, tokens: tokens, layers: LayerSelection(layers),
                                 context: context, batch: batch, dtype: dtype, out: out)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws { try JobOutput.run(request) }
}
