import ArgumentParser
import Foundation
import Lantern

/// The corpus pass `neuron` and `neurons top` share: model, layer, corpus, and optionally an SAE
/// read on the same contexts for the polysemanticity view.
struct NeuronScanOptions: ParsableArguments {
    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions
    @OptionGroup var size: ScanSizeOptions

    @Option(name: .long, help: "The MLP layer: its neurons are the columns of blocks.LAYER.mlp.hook_post.")
    var layer: Int

    @Option(name: .long, help: "An SAE (Gemma Scope params.npz or SAELens directory) read at its own hook on the same contexts: groups each neuron's top contexts by SAE feature (polysemanticity).")
    var sae: String?

    @Option(name: .long, help: "Leave SAE features that fire on more than this fraction of the scanned tokens out of the grouping (dense features).")
    var maxDensity = 0.1

    func validate() throws {
        try OptionCheck.integer(layer, "--layer", 0...1 << 20)
        try OptionCheck.number(maxDensity, "--max-density", 0...1, above: true)
        guard maxDensity > 0, maxDensity <= 1 else { throw ValidationError("--max-density must be in (0, 1], got \(maxDensity)") }
    }

    struct Result {
        let loaded: LanternModel
        let neurons: MLPNeurons
        let scan: FeatureScan
        let companion: (sae: SAE, scan: FeatureScan)?

        /// The neuron's polysemanticity (nil without an SAE).
        func polysemanticity(_ n: Int, maxDensity: Double) -> Polysemanticity? {
            guard let companion else { return nil }
            return Polysemanticity(unit: n, examples: scan.examples(n)) { companion.scan.summary($0).density > maxDensity }
        }

        func notes(_ p: Polysemanticity) throws -> [Int: GroupFeatureNote] {
            guard let companion else { return [:] }
            var notes: [Int: GroupFeatureNote] = [:]
            for f in p.groups.compactMap(\.feature) {
                notes[f] = try GroupFeatureNote(feature: f, scan: companion.scan, sae: companion.sae, model: loaded.transformer)
            }
            return notes
        }

        var description: String {
            var s = "neurons of \(neurons.hookName), \(scan.tokens) tokens scanned (BOS left out)"
            if let c = companion { s += "; SAE \(c.sae.source) at \(c.sae.hookName) on the same tokens" }
            return s
        }
    }

    /// Loads everything and scans the corpus once, every neuron of the layer (and every SAE feature)
    /// at a time; refuses a neuron `id` outside the layer before scanning.
    func scan(checking id: Int? = nil) throws -> Result {
        let loaded = try model.load(manyPasses: true)
        let neurons = try MLPNeurons(layer: layer, model: loaded.transformer)
        if let id { try neurons.checkUnit(id) }
        let packer = try corpus.packer(for: loaded, length: size.context)
        let scan = FeatureScan(width: neurons.width, bos: packer.bos, options: size.scanOptions)
        var companion: (sae: SAE, scan: FeatureScan)?
        if let sae {
            let loadedSAE = try SAE.load(path: sae, backend: loaded.backend, hook: nil)
            try loadedSAE.check(against: loaded.config)
            var options = size.scanOptions
            options.before = 0
            options.after = 0
            companion = (loadedSAE, FeatureScan(width: loadedSAE.dSAE, bos: packer.bos, options: options))
        }
        try size.run(loaded, units: neurons, into: scan, companion: companion, packer: packer)
        return Result(loaded: loaded, neurons: neurons, scan: scan, companion: companion)
    }
}

/// How the terminal and JSON show a polysemanticity grouping.
extension Polysemanticity {
    func text(_ loaded: LanternModel, examples list: [FeatureExample], notes: [Int: GroupFeatureNote], maxDensity: Double) -> String {
        var out = String(format: "polysemanticity: %d shared SAE features over %d top contexts, effective number %.2f, coverage %.0f%% (features denser than %g%% left out)\n",
                         distinctFeatures, examples, effectiveFeatures, coverage * 100, maxDensity * 100)
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

    func json(_ notes: [Int: GroupFeatureNote], _ loaded: LanternModel) -> [String: Any] {
        ["distinct_features": distinctFeatures, "effective_features": effectiveFeatures, "coverage": coverage, "examples": examples,
         "groups": groups.map { g -> [String: Any] in
             var d: [String: Any] = ["share": g.share, "examples": g.examples]
             if let f = g.feature {
                 d["feature"] = f
                 if let n = notes[f] {
                     d["density"] = n.density
                     d["top_tokens"] = n.topTokens.map(loaded.display)
                     d["promoted"] = n.promoted.map(loaded.display)
                 }
             }
             return d
         }]
    }
}
