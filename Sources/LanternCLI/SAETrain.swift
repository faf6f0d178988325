import Analyses
import ArgumentParser
import CIntrinsics
import Foundation

/// `lantern sae train`: a TopK, JumpReLU or ReLU SAE on harvested activations, saved for SAELens.
struct SAETrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: SAETrainRequest.summary,
        discussion: """
            Reads activations that `lantern harvest` wrote (--activations DIR), or harvests --tokens rows \
            into OUT/activations first. Writes OUT/checkpoint.safetensors every --checkpoint-every steps \
            (continue with --resume) and, at the end, OUT/cfg.json + OUT/sae_weights.safetensors.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions
    @OptionGroup var training: DictionaryTrainingOptions

    @Option(name: .long, help: ArgumentHelp(SAETrainRequest.hook))
    var hook: String

    @Option(name: .long, help: ArgumentHelp(JobFields.activations))
    var activations: String?

    @Option(name: .long, help: ArgumentHelp(SAETrainRequest.out))
    var out = "sae"

    @Flag(name: .long, help: "Continue from OUT/checkpoint.safetensors.")
    var resume = false

    @Option(name: .long, help: ArgumentHelp(SAETrainRequest.context))
    var context = 128

    var request: SAETrainRequest {
        SAETrainRequest(model: model.job, corpus: corpus.source, training: training.values, hook: hook, activations: activations,
                        out: out, resume: resume, context: context)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws {
        _ = lantern_keep_freed_memory()  // each step's large host arrays reused, not mapped afresh (a CLI process only)
        try JobOutput.run(request)
    }
}
