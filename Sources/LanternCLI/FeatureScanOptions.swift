import Analyses
import ArgumentParser
import Foundation
import Lantern
import Training

/// How much of the corpus a scan reads and what it keeps (`feature`, `features top`, `neuron`, `neurons top`): `ScanSize`.
struct ScanSizeOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(ScanSize.tokens))
    var tokens = 16_384

    @Option(name: .long, help: ArgumentHelp(ScanSize.context))
    var context = 128

    @Option(name: .long, help: ArgumentHelp(ScanSize.examples))
    var examples = 10

    @Option(name: .long, help: ArgumentHelp(ScanSize.passRows))
    var passRows = ScanSize.defaultPassRows

    func validate() throws {
        do {
            try values.validate(JobFrontEnd(spelling: .cli))
        } catch let error as AnalysisError {
            throw ValidationError(error.message)
        }
    }

    var values: ScanSize { ScanSize(tokens: tokens, context: context, examples: examples, passRows: passRows) }
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
        let scan = try JobOutput.run { try size.values.scanFeatures(of: sae, loaded, corpus: corpus.source, monitor: $0, $1) }
        return (loaded, sae, scan)
    }
}

/// How the terminal and JSON show a dashboard.
extension FeatureDashboard {
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
