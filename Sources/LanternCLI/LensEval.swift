import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern lens eval`: per-layer KL to the model's output, logit lens and tuned lens (`LensEvalRequest`).
struct LensEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: LensEvalRequest.summary,
        discussion: "The corpus is packed as `lens train` packs it (contexts of --context tokens, BOS first); BOS positions are left out. Use text the lens was not trained on."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: ArgumentHelp(LensEvalRequest.tuned))
    var tuned: String?

    @Option(name: .long, help: ArgumentHelp(LensEvalRequest.tokens))
    var tokens = 2048

    @Option(name: .long, help: "Tokens per context, BOS included.")
    var context = 128

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    var request: LensEvalRequest {
        LensEvalRequest(model: model.job, corpus: corpus.source, tuned: tuned, tokens: tokens, context: context)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws {
        let r = try JobOutput.run(request)
        if json { return try printJSON(r) }
        let hasTuned = r.rows.first?.tunedKL != nil
        print("KL(final ‖ lens) in nats, mean over \(r.tokens) tokens (\(r.contexts) contexts of \(r.context))")
        print(fit("layer", 7) + fit("hook", 28) + "  logit lens" + (hasTuned ? "  tuned lens" : ""))
        for row in r.rows {
            var line = fit(row.label, 7) + fit(row.hook, 28) + String(format: "  %10.4f", row.logitKL)
            if let t = row.tunedKL { line += String(format: "  %10.4f", t) }
            print(line)
        }
    }
}
