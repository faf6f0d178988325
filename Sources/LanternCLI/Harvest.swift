import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern harvest`: a hook's activations over a corpus, in resumable safetensors shards.
struct Harvest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: HarvestRequest.summary,
        discussion: """
            Writes DIR/shard-00000.safetensors, … (activations [rows, d] float32, or float16 with --dtype f16; tokens [rows]) and \
            DIR/manifest.json. Run the same command again to continue after an interruption. With \
            --shard I/N the run does every N-th context starting at I and writes into DIR/part-I-of-N, \
            so N machines (a Slurm array, a Kubernetes indexed Job) can share DIR; `lantern sae train \
            --activations DIR` reads all parts.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: ArgumentHelp(HarvestRequest.hook))
    var hook: String

    @Option(name: .long, help: ArgumentHelp(HarvestRequest.tokens))
    var tokens: Int

    @Option(name: .long, help: ArgumentHelp(HarvestRequest.context))
    var context = 128

    @Option(name: .long, help: ArgumentHelp(HarvestRequest.shard))
    var shard = "0/1"

    @Option(name: .long, help: ArgumentHelp(HarvestRequest.batch))
    var batch = 64

    @Option(name: .long, help: ArgumentHelp(HarvestRequest.passRows))
    var passRows = HarvestRequest.defaultPassRows

    @Flag(name: .long, help: ArgumentHelp(HarvestRequest.includeBOS))
    var includeBos = false

    @Option(name: .long, help: ArgumentHelp(HarvestRequest.dtype))
    var dtype = "f32"

    @Option(name: .long, help: ArgumentHelp(JobFields.out))
    var out: String

    var request: HarvestRequest {
        HarvestRequest(model: model.job, corpus: corpus.source, hook: hook, tokens: tokens, context: context, shard: shard,
                       batch: batch, passRows: passRows, includeBOS: includeBos, dtype: dtype, out: out)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws { try JobOutput.run(request) }
}
