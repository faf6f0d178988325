import ArgumentParser
import Foundation
import Lantern

/// `lantern sae ...`: SAE-wide reports.
struct SAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sae", abstract: "Train and evaluate sparse autoencoders.",
                                                    subcommands: [SAETrain.self, SAEEval.self, SAESweep.self])
}

/// `lantern sae eval`: the dark-matter report.
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

    @Flag(name: .long, help: "Count and splice BOS positions too.")
    var includeBos = false

    @Option(name: .long, help: "A feature is dense when it fires on more than this fraction of tokens.")
    var denseThreshold = 0.1

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page to this file.")
    var html: String?

    func texts(_ loaded: LanternModel) throws -> [[Int32]] {
        corpus.isEmpty ? [try prompt.ids(for: loaded)] : try Self.documents(corpus, for: loaded)
    }

    /// One token list per file (each cut at the model's context), or per line of comma-separated
    /// ids for a model without a tokenizer.
    static func documents(_ files: [String], for loaded: LanternModel) throws -> [[Int32]] {
        let context = loaded.config.contextLength
        return try files.flatMap { path -> [[Int32]] in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw LanternError.badFile(path: path, field: "file", problem: "cannot read")
            }
            let text = String(decoding: data, as: UTF8.self)
            if loaded.tokenizer != nil { return [Array(try loaded.encode(text).prefix(context))] }
            return try text.split(separator: "\n").map { line in Array(try integers(String(line), what: "\(path)").map(Int32.init).prefix(context)) }
        }
    }

    func run() throws {
        if let activations { return try evaluateRows(activations) }
        let loaded = try model.load(manyPasses: true)
        let sae = try saeOptions.load(for: loaded)
        let evaluator = try SAEEvaluator(model: loaded.transformer, sae: sae, includeBOS: includeBos, denseThreshold: denseThreshold)
        let documents = try texts(loaded)
        let progress = Progress(total: documents.count, label: "sae eval")
        var perToken: [[TokenMetrics]] = []
        for (i, doc) in documents.enumerated() {
            perToken.append(try evaluator.evaluate(doc))
            progress.update(i + 1)
        }
        if documents.count > 1 { progress.finish() }
        let o = evaluator.overall
        guard o.tokens > 0 else {
            throw LanternError.invalidArgument("sae eval: no tokens to evaluate (\(includeBos ? "the texts are empty" : "the texts hold only BOS, which is left out without --include-bos"))")
        }
        if let html {
            let section = HTMLReport.evaluation(tokens: perToken[0].map { loaded.shown($0.token) }, perToken: perToken[0], overall: o, dSAE: sae.dSAE)
            try writeHTML(HTMLReport.page(title: "SAE dark-matter report", subtitle: "\(sae.source) at \(sae.hookName) · \(documents.count) text(s)",
                                          sections: [section]), to: html)
        }
        if json {
            print(try jsonString(["sae": sae.source, "hook": sae.hookName, "overall": overallJSON(o), "texts": perToken.map { $0.map(tokenJSON(loaded)) }]))
            return
        }
        if documents.count == 1 {
            print("pos  token        L0  expl.var  cos(x,x̂)  ‖x−x̂‖/‖x‖  CE clean  CE sae  CE zero")
            for m in perToken[0] {
                print(String(format: "%3d  ", m.position) + fit(loaded.shown(m.token), 12)
                      + String(format: " %3d  %8.4f  %8.4f  %9.4f  ", m.l0, m.explainedVariance, m.cosine, m.relativeError)
                      + [m.ceClean, m.ceSAE, m.ceZero].map { $0.map { String(format: "%8.4f", $0) } ?? "       –" }.joined(separator: " "))
            }
        }
        print(String(format: "overall: %d tokens, L0 %.2f, explained variance %.4f, cosine %.4f, ‖x−x̂‖/‖x‖ %.4f",
                     o.tokens, o.l0, o.explainedVariance, o.cosine, o.relativeError))
        print(String(format: "CE clean %.4f, with SAE %.4f, zero-ablated %.4f, CE-loss score %.4f", o.ceClean, o.ceSAE, o.ceZero, o.ceScore))
        print("dead features \(o.deadFeatures) of \(sae.dSAE), dense (> \(o.denseThreshold)) \(o.denseFeatures)")
    }

    func overallJSON(_ o: OverallMetrics) -> [String: Any] { o.json }

    func tokenJSON(_ loaded: LanternModel) -> (TokenMetrics) -> [String: Any] {
        { $0.json(text: loaded.display($0.token)) }
    }
}
