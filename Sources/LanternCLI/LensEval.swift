import ArgumentParser
import Foundation
import Lantern
import Training

/// `lantern lens eval`: per-layer KL to the model's output, logit lens and tuned lens.
struct LensEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Mean KL(final distribution ‖ lens distribution) per layer over a corpus, for the logit lens and (--tuned) a tuned lens.",
        discussion: "The corpus is packed as `lens train` packs it (contexts of --context tokens, BOS first); BOS positions are left out. Use text the lens was not trained on."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: "A tuned lens folder to measure beside the logit lens.")
    var tuned: String?

    @Option(name: .long, help: "Tokens to evaluate on (positions; BOS left out): exactly this many, or all the corpus has if fewer.")
    var tokens = 2048

    @Option(name: .long, help: "Tokens per context, BOS included.")
    var context = 128

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    func validate() throws {
        try OptionCheck.integer(tokens, "--tokens", 1...OptionCheck.maxCount)
        try OptionCheck.integer(context, "--context", 2...1 << 20)
    }

    func run() throws {
        let loaded = try model.load(manyPasses: true)
        let lens = try tuned.map { try TunedLens.load(directory: $0) }
        let packer = try corpus.packer(for: loaded, length: context)
        // Exactly --tokens positions: the last context is cut after the ones still needed (its BOS kept).
        var contexts: [[Int32]] = [], counted = 0
        try packer.forEachContext { _, c in
            let take = min(c.count - 1, tokens - counted)
            contexts.append(Array(c.prefix(take + 1)))
            counted += take
            return counted < tokens
        }
        guard !contexts.isEmpty else { throw LanternError.invalidArgument("the corpus has fewer than \(context) tokens: give more text or a shorter --context") }
        let bar = Progress(total: contexts.count, label: "lens eval")
        let report = try LensDivergence.evaluate(loaded.transformer, contexts: contexts, tuned: lens) { bar.update($0) }
        bar.finish()
        if json {
            var object: [String: Any] = [
                "tokens": report.tokens, "contexts": contexts.count, "context": context, "corpus": try corpus.files(),
                "rows": report.hookNames.indices.map { row -> [String: Any] in
                    var r: [String: Any] = ["hook": report.hookNames[row], "label": report.rowLabels[row], "logit_kl": report.logitKL[row]]
                    if let t = report.tunedKL { r["tuned_kl"] = t[row] }
                    return r
                },
            ]
            if let tuned { object["tuned"] = tuned }
            print(try jsonString(object))
            return
        }
        print("KL(final ‖ lens) in nats, mean over \(report.tokens) tokens (\(contexts.count) contexts of \(context))")
        print(fit("layer", 7) + fit("hook", 28) + "  logit lens" + (report.tunedKL == nil ? "" : "  tuned lens"))
        for row in report.hookNames.indices {
            var line = fit(report.rowLabels[row], 7) + fit(report.hookNames[row], 28) + String(format: "  %10.4f", report.logitKL[row])
            if let t = report.tunedKL { line += String(format: "  %10.4f", t[row]) }
            print(line)
        }
    }
}
