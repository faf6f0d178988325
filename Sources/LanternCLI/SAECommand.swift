import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern sae ...`: SAE-wide reports.
struct SAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sae", abstract: "Train and evaluate sparse autoencoders.",
                                                    subcommands: [SAETrain.self, SAEFinetune.self, SAEEval.self, SAESweep.self, SAEProbe.self,
                                                                  SAEAbsorption.self])
}

/// `lantern sae eval`: the dark-matter report (`SAEEvalRequest` on texts, `SAERowsEvalRequest`
/// over harvested activations).
struct SAEEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "L0, explained variance, cosine, ‖x−x̂‖/‖x‖ and next-token CE clean / SAE spliced / zero-ablated.",
        discussion: "BOS positions are left out unless --include-bos (neither replaced nor counted). Corpus files: one text per file (token ids, comma-separated, one text per line, for models without a tokenizer)."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var saeOptions: SAEOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, parsing: .upToNextOption, help: "Text files to evaluate over (instead of --prompt).")
    var corpus: [String] = []

    @Option(name: .long, help: "Instead of texts: a directory `lantern harvest` wrote; reports L0, explained variance, dead and dense latents over its rows (no cross-entropy, no forward pass).")
    var activations: String?

    @Option(name: .long, help: "With --activations: evaluate the first N rows (default: all).")
    var rows: Int?

    @Flag(name: .long, help: ArgumentHelp(SAEEvalRequest.includeBOS))
    var includeBos = false

    @Option(name: .long, help: ArgumentHelp(SAEEvalRequest.denseThreshold))
    var denseThreshold = 0.1

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page to this file.")
    var html: String?

    func validate() throws {
        if activations != nil && !corpus.isEmpty { throw ValidationError("give --activations or --corpus, not both") }
        try OptionCheck.field(rows, SAERowsEvalRequest.rows)
        try OptionCheck.field(denseThreshold, SAEEvalRequest.denseThreshold, above: true)
    }

    func run() throws {
        if let activations { return try evaluateRows(activations) }
        let loaded = try model.load(manyPasses: true)
        let sae = try saeOptions.load(for: loaded)
        let documents = corpus.isEmpty ? [try prompt.ids(for: loaded)] : try SAEEvalRequest.documents(corpus, for: loaded)
        let context = loaded.analysisContext(saes: [sae])
        let request = SAEEvalRequest(texts: documents.map { $0.map(Int.init) }, includeBOS: includeBos, denseThreshold: denseThreshold)
        try request.validate(against: context)
        let bar = ProgressBar()
        let result = try request.run(on: context, monitor: bar.monitor)
        if documents.count > 1 { bar.finish() }
        if let html {
            let section = HTMLReport.evaluation(tokens: result.perToken[0].map { loaded.shown($0.token) }, perToken: result.perToken[0],
                                                overall: result.metrics, dSAE: sae.dSAE)
            try writeHTML(HTMLReport.page(title: "SAE dark-matter report", subtitle: "\(sae.source) at \(sae.hookName) · \(documents.count) text(s)",
                                          sections: [section]), to: html)
        }
        if json { return try printJSON(result) }
        if documents.count == 1 {
            print("pos  token        L0  expl.var  cos(x,x̂)  ‖x−x̂‖/‖x‖  CE clean  CE sae  CE zero")
            for m in result.perToken[0] {
                print(String(format: "%3d  ", m.position) + fit(loaded.shown(m.token), 12)
                      + String(format: " %3d  %8.4f  %8.4f  %9.4f  ", m.l0, m.explainedVariance, m.cosine, m.relativeError)
                      + [m.ceClean, m.ceSAE, m.ceZero].map { $0.map { String(format: "%8.4f", $0) } ?? "       –" }.joined(separator: " "))
            }
        }
        let o = result.metrics
        print(String(format: "overall: %d tokens, L0 %.2f, explained variance %.4f, cosine %.4f, ‖x−x̂‖/‖x‖ %.4f",
                     o.tokens, o.l0, o.explainedVariance, o.cosine, o.relativeError))
        print(String(format: "CE clean %.4f, with SAE %.4f, zero-ablated %.4f, CE-loss score %.4f; loss increase %+.4f nats (%+.2f%% of clean)",
                     o.ceClean, o.ceSAE, o.ceZero, o.ceScore, o.lossIncrease, o.lossIncreasePercent))
        print("dead features \(o.deadFeatures) of \(sae.dSAE), dense (> \(o.denseThreshold)) \(o.denseFeatures)")
    }

    /// `--activations DIR`: the job over harvested rows, without the model.
    func evaluateRows(_ directory: String) throws {
        let r = try JobOutput.run(SAERowsEvalRequest(backend: model.job, sae: saeOptions.sae, hook: saeOptions.hook, activations: directory,
                                                     rows: rows, denseThreshold: denseThreshold))
        if json { return try printJSON(r) }
        print(String(format: "%d rows of %@: L0 %.2f, explained variance %.4f", r.rows, directory, r.l0, r.explainedVariance))
        print(String(format: "dead (never fired) %d of %d (%.2f%%), dense (> %g) %d (%.2f%%)", r.deadFeatures, r.dSAE,
                     100 * Double(r.deadFeatures) / Double(r.dSAE), denseThreshold, r.denseFeatures, 100 * Double(r.denseFeatures) / Double(r.dSAE)))
    }
}
