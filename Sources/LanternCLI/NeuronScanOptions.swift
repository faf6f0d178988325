import Analyses
import ArgumentParser
import Foundation
import Lantern

/// The corpus pass `neuron` and `neurons top` share: model, layer, corpus, and optionally an SAE
/// read on the same contexts for the polysemanticity view.
struct NeuronScanOptions: ParsableArguments {
    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions
    @OptionGroup var size: ScanSizeOptions

    @Option(name: .long, help: ArgumentHelp(NeuronsTopRequest.layer))
    var layer: Int

    @Option(name: .long, help: ArgumentHelp(NeuronsTopRequest.sae))
    var sae: String?

    @Option(name: .long, help: ArgumentHelp(NeuronsTopRequest.maxDensity))
    var maxDensity = 0.1

    func validate() throws {
        try OptionCheck.integer(layer, "--layer", 0...1 << 20)
        try OptionCheck.number(maxDensity, "--max-density", 0...1, above: true)
        guard maxDensity > 0, maxDensity <= 1 else { throw ValidationError("--max-density must be in (0, 1], got \(maxDensity)") }
    }

    /// Loads the model and scans the corpus once, every neuron of the layer (and every SAE feature)
    /// at a time; refuses a neuron `id` outside the layer before scanning.
    func scan(checking id: Int? = nil) throws -> NeuronScan {
        let loaded = try model.load(manyPasses: true)
        return try JobOutput.run {
            try size.values.scanNeurons(layer: layer, layerField: NeuronsTopRequest.layer, unit: id, sae: sae, loaded, corpus: corpus.source,
                                        monitor: $0, $1)
        }
    }
}

/// How the terminal shows a polysemanticity grouping (`PolysemanticityJSON` is its JSON).
extension Polysemanticity {
    func text(_ loaded: LanternModel, examples list: [FeatureExample], notes: [Int: GroupFeatureNote], maxDensity: Double) -> String {
        var out = String(format: "polysemanticity: %d shared SAE features over %d top contexts, effective number %.2f, coverage %.0f%% (features denser than %g%% left out)\n",
                         distinctFeatures, examples, effectiveFeatures, coverage * 100, maxDensity * 100)
        if let u = unrelatedness {
            out += String(format: "unrelatedness: %.2f unrelated features (related ones counted as one); ", u.unrelatedFeatures)
            out += "mean |cos| of their decoder directions \(Self.figure(u.meanAbsCosine)), mean overlap (Jaccard) of their top promoted tokens \(Self.figure(u.meanPromotedOverlap))\n"
        }
        for g in groups {
            var head = String(format: "  %5.1f%% (%d) ", g.share * 100, g.examples.count)
            if let f = g.feature {
                head += "feature \(f)"
                if let n = notes[f] {
                    head += String(format: " (density %.3f%%; fires most on ", n.density * 100) + n.topTokens.map(loaded.shown).joined(separator: " ")
                    if !n.promoted.isEmpty { head += "; promotes " + n.promoted.map(loaded.shown).joined(separator: " ") }
                    head += ")"
                }
            } else {
                head += "sharing no feature with another top context"
            }
            out += head + "\n"
            for i in g.examples {
                let e = list[i]
                let text = zip(e.tokens.indices, e.tokens).map { j, t in j == e.maxIndex ? "«\(loaded.shown(t))»" : loaded.shown(t) }.joined()
                out += String(format: "      %8.3f  ", Double(e.maxActivation)) + text + "\n"
            }
        }
        return out
    }
}

extension Polysemanticity {
    /// A pairwise mean to three places, or "–" where there is no pair.
    static func figure(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "–" }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
