import Analyses
import ArgumentParser
import Foundation
import Lantern
import Training

/// How much of the corpus a scan reads and what it keeps (`feature`, `features top`, `neuron`, `neurons top`).
struct ScanSizeOptions: ParsableArguments {
    @Option(name: .long, help: "Corpus tokens to scan (whole contexts, BOS included).")
    var tokens = 16_384

    @Option(name: .long, help: "Tokens per context, BOS included.")
    var context = 128

    @Option(name: .long, help: "Top activating contexts kept per unit.")
    var examples = 10

    func validate() throws {
        try OptionCheck.integer(tokens, "--tokens", 1...OptionCheck.maxCount)
        try OptionCheck.integer(context, "--context", 2...1 << 20)
        try OptionCheck.integer(examples, "--examples", 1...1_000_000)
        guard tokens > 0, context >= 2, examples > 0 else { throw ValidationError("--tokens, --examples must be positive and --context at least 2") }
    }

    /// Scans the corpus into `scan` (and the companion SAE's scan), one context at a time, with progress.
    func run(_ loaded: LanternModel, units: any ActivationUnits, into scan: FeatureScan,
             companion: (sae: SAE, scan: FeatureScan)? = nil, packer: ContextPacker) throws {
        let contexts = (tokens + context - 1) / context
        let progress = Progress(total: contexts, label: "scanning \(units.hookNames.joined(separator: " + "))")
        try packer.forEachContext { index, ids in
            try scan.add(context: ids, model: loaded.transformer, units: units, companion: companion)
            let seconds = Date().timeIntervalSince(progress.start)
            progress.update(index + 1, detail: String(format: "%.0f tokens/s", Double((index + 1) * context) / max(seconds, 1e-9)))
            return index + 1 < contexts
        }
        progress.finish()
        guard scan.contexts > 0 else {
            throw LanternError.invalidArgument("the corpus is shorter than one \(context)-token context")
        }
        if scan.contexts < contexts { note("the corpus ran out after \(scan.contexts) contexts (\(scan.contexts * context) tokens)") }
    }

    var scanOptions: FeatureScan.Options {
        var options = FeatureScan.Options()
        options.topExamples = examples
        return options
    }
}

/// The corpus pass `feature` and `features top` share: model, SAE, corpus and how much to read.
struct FeatureScanOptions: ParsableArguments {
    @OptionGroup var model: ModelOptions
    @OptionGroup var saeOptions: SAEOptions
    @OptionGroup var corpus: CorpusOptions
    @OptionGroup var size: ScanSizeOptions

    /// Loads everything and scans the corpus once, all features at a time.
    func scan() throws -> (LanternModel, SAE, FeatureScan) {
        let loaded = try model.load(manyPasses: true)
        let sae = try saeOptions.load(for: loaded)
        let packer = try corpus.packer(for: loaded, length: size.context)
        let scan = FeatureScan(width: sae.dSAE, bos: packer.bos, options: size.scanOptions)
        try size.run(loaded, units: sae, into: scan, packer: packer)
        return (loaded, sae, scan)
    }
}

/// How the terminal and JSON show a dashboard.
extension FeatureDashboard {
    /// The dashboard's JSON object (`DashboardJSON`'s), for lists of dashboards (`features top`, `neurons top`).
    func json(_ loaded: LanternModel) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: AnalysisJSON.encode(DashboardJSON(self, model: loaded)))) as? [String: Any] ?? [:]
    }

    func text(_ loaded: LanternModel) -> String {
        let s = summary
        var out = "\(unitName) \(feature): " + String(format: "density %.4f%% (%d of %d tokens), max %.3f, mean when firing %.3f\n",
                                                  s.density * 100, s.firing, s.tokens, Double(s.maxActivation), s.meanActivation)
        func tokens(_ list: [TokenLogit]) -> String {
            list.map { "\(loaded.shown($0.token)) (\(String(format: "%+.2f", Double($0.logit))))" }.joined(separator: ", ")
        }
        out += "promoted (\(directionFormula), ⊙ final-norm gain, times W_Uᵀ; " + String(format: "‖direction‖ %.3f): ", Double(directionNorm))
            + tokens(logits.positive) + "\n"
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

    func page(_ loaded: LanternModel, sae: SAE, index: String? = nil) -> String {
        page(loaded, title: "Feature \(feature)", subtitle: "\(sae.source) at \(sae.hookName) · d_sae \(sae.dSAE)", index: index)
    }

    func page(_ loaded: LanternModel, title: String, subtitle: String, index: String? = nil, more: [String] = []) -> String {
        var sections = HTMLReport.featureDashboard(self, display: loaded.display) + more
        if let index { sections.insert("<a href=\"\(HTMLReport.escape(index))\">← all \(unitName)s</a>", at: 0) }
        return HTMLReport.page(title: title, subtitle: subtitle, sections: sections)
    }
}
