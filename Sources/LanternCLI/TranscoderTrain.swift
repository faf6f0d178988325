import Analyses
import ArgumentParser
import CIntrinsics
import Foundation

/// `lantern transcoder train`: one transcoder per chosen layer, on pairs `transcoder harvest` saved.
struct TranscoderTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: TranscoderTrainRequest.summary,
        discussion: """
            Layers train one after another into OUT/layer_L_width_W_k_K[_affine]/ (the Gemma Scope 2 \
            transcoder layout: params.safetensors + config.json, plus checkpoint.safetensors and the \
            training log). A layer whose run finished is skipped; with --resume an interrupted layer \
            continues from its checkpoint, so a long set can be trained in pieces.

            With --cross-layer: one cross-layer transcoder (TopK; Ameisen et al. 2025) over layers \
            0…n−1, whose layer-i features write to the MLP outputs of layers i…n−1, trained into OUT \
            itself (params_layer_{i}.safetensors + config.json, Gemma Scope 2's clt/ layout), which \
            `lantern graph --transcoders OUT` reads. Its decoders hold n(n+1)/2 × width × d floats; \
            a run needing more than --memory-gb (default: this machine's memory) is refused.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var training: DictionaryTrainingOptions

    @Option(name: .long, help: ArgumentHelp(TranscoderTrainRequest.activations))
    var activations: String

    @Option(name: .long, help: ArgumentHelp(LayerSelection.field))
    var layers = "all"

    @Flag(name: .long, help: ArgumentHelp(TranscoderTrainRequest.skip))
    var skip = false

    @Option(name: .long, help: ArgumentHelp(TranscoderTrainRequest.out))
    var out = "transcoders"

    @Flag(name: .long, help: ArgumentHelp(TranscoderTrainRequest.resume))
    var resume = false

    @Flag(name: .long, help: ArgumentHelp(TranscoderTrainRequest.crossLayer))
    var crossLayer = false

    @Option(name: .long, help: ArgumentHelp(TranscoderTrainRequest.memoryGB))
    var memoryGb: Double?

    var request: TranscoderTrainRequest {
        TranscoderTrainRequest(model: model.job, training: training.values, activations: activations, layers: LayerSelection(layers),
                               skip: skip, out: out, resume: resume,
                               crossLayer: crossLayer, memoryGB: memoryGb)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws {
        _ = lantern_keep_freed_memory()  // each step's large host arrays reused, not mapped afresh (a CLI process only)
        try JobOutput.run(request)
    }
}
