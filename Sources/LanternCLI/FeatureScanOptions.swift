import ArgumentParser
import Foundation
import Lantern

/// The corpus pass `feature` and `features top` share: model, SAE, corpus and how much to read.
struct FeatureScanOptions: ParsableArguments {
    @OptionGroup var model: ModelOptions
    @OptionGroup var saeOptions: SAEOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: "Corpus tokens to scan (whole contexts, BOS included).")
    var tokens = 16_384

    @Option(name: .long, help: "Tokens per context, BOS included.")
    var context = 128

    @Option(name: .long, help: "Top activating contexts kept per feature.")
    var examples = 10

    func validate() throws {
        guard tokens > 0, context >= 2, examples > 0 else { throw ValidationError("--tokens, --examples must be positive and --context at least 2") }
    }

    /// Loads everything and scans the corpus once, all features at a time.
    func scan() throws -> (LanternModel, SAE, FeatureScan) {
        let loaded = try model.load()
        let sae = try saeOptions.load(for: loaded)
        let packer = try corpus.packer(for: loaded, length: context)
        var options = FeatureScan.Options()
        options.topExamples = examples
        let scan = FeatureScan(dSAE: sae.dSAE, bos: packer.bos, options: options)
        let contexts = (tokens + context - 1) / context
        let progress = Progress(total: contexts, label: "scanning \(sae.hookName)")
        try packer.forEachContext { index, ids in
            try scan.add(context: ids, model: loaded.transformer, sae: sae)
            let seconds = Date().timeIntervalSince(progress.start)
            progress.update(index + 1, detail: String(format: "%.0f tokens/s", Double((index + 1) * context) / max(seconds, 1e-9)))
            return index + 1 < contexts
        }
        progress.finish()
        guard scan.contexts > 0 else {
            throw LanternError.invalidArgument("the corpus is shorter than one \(context)-token context")
        }
        if scan.contexts < contexts { note("the corpus ran out after \(scan.contexts) contexts (\(scan.contexts * context) tokens)") }
        return (loaded, sae, scan)
    }
}

/// How the terminal and JSON show a dashboard.
extension FeatureDashboard {
    func text(_ loaded: LanternModel) -> String {
        let s = summary
        var out = "feature \(feature): " + String(format: "density %.4f%% (%d of %d tokens), max %.3f, mean when firing %.3f\n",
                                                  s.density * 100, s.firing, s.tokens, Double(s.maxActivation), s.meanActivation)
        func tokens(_ list: [TokenLogit]) -> String {
            list.map { "\(loaded.shown($0.token)) (\(String(format: "%+.2f", Double($0.logit))))" }.joined(separator: ", ")
        }
        out += String(format: "promoted (W_dec·W_U, no final norm; ‖W_dec[f]‖ %.3f): ", Double(decoderNorm)) + tokens(logits.positive) + "\n"
        out += "suppressed: \(tokens(logits.negative))\n"
        out += "histogram of nonzero activations" + (histogram.sampled ? " (a sample of \(histogram.values))" : "") + ":\n"
        let top = max(histogram.counts.max() ?? 0, 1)
        for (i, c) in histogram.counts.enumerated() {
            let lo = Double(histogram.upper) * Double(i) / Double(histogram.counts.count)
            out += String(format: "  %8.3f %@ %d\n", lo, String(repeating: "█", count: (c * 40 + top - 1) / top), c)
        }
        out += "top activating contexts (the maximum «marked»):\n"
        for e in examples {
            let text = zip(e.tokens.indices, e.tokens).map { i, t in
                i == e.maxIndex ? "«\(loaded.shown(t))»" : loaded.shown(t)
            }.joined()
            out += String(format: "  %8.3f  ", Double(e.maxActivation)) + text + "\n"
        }
        return out
    }

    func json(_ loaded: LanternModel) -> [String: Any] {
        func tokens(_ list: [TokenLogit]) -> [[String: Any]] {
            list.map { ["id": Int($0.token), "text": loaded.display($0.token), "logit": Double($0.logit)] }
        }
        return [
            "feature": feature, "density": summary.density, "firing": summary.firing, "tokens": summary.tokens,
            "max_activation": Double(summary.maxActivation), "mean_activation": summary.meanActivation,
            "decoder_norm": Double(decoderNorm),
            "logits": ["positive": tokens(logits.positive), "negative": tokens(logits.negative),
                       "final_norm": false, "softcap": false],
            "histogram": ["lower": Double(histogram.lower), "upper": Double(histogram.upper), "counts": histogram.counts,
                          "sampled": histogram.sampled],
            "examples": examples.map { e -> [String: Any] in
                ["context": e.context, "position": e.position, "window_start": e.windowStart, "max_activation": Double(e.maxActivation),
                 "tokens": e.tokens.map { Int($0) }, "text": e.tokens.map(loaded.display), "activations": e.activations.map(Double.init)]
            },
        ]
    }

    func page(_ loaded: LanternModel, sae: SAE, index: String? = nil) -> String {
        var sections = HTMLReport.featureDashboard(self, display: loaded.display)
        if let index { sections.insert("<a href=\"\(HTMLReport.escape(index))\">← all features</a>", at: 0) }
        return HTMLReport.page(title: "Feature \(feature)", subtitle: "\(sae.source) at \(sae.hookName) · d_sae \(sae.dSAE)",
                               sections: sections)
    }
}
