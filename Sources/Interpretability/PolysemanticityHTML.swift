import Foundation

/// The polysemanticity view of a neuron page, as a section for `HTMLReport.page`.
extension HTMLReport {
    /// The unit's top contexts grouped by SAE feature: per group the feature, its share of the top
    /// contexts, what the feature itself fires on and promotes, and the contexts.
    public static func polysemanticity(_ p: Polysemanticity, examples: [FeatureExample], notes: [Int: GroupFeatureNote],
                                       sae: String, maxDensity: Double, display: (Int32) -> String) -> String {
        let top = max(examples.first?.maxActivation ?? 0, 1e-9)
        var out = """
        <h2>Polysemanticity: the top contexts grouped by SAE feature</h2>
        <div class="legend">Each top context's strongest token is assigned to the strongest feature of \(escape(sae)) active there,
        leaving out features that fire on more than \(String(format: "%g", maxDensity * 100))% of the scanned tokens.
        Effective number of features exp(H) over the group shares: 1 = one feature explains every top context.</div>
        <div class="card"><b>\(p.distinctFeatures) distinct features over \(p.examples) top contexts · effective number \(String(format: "%.2f", p.effectiveFeatures))</b></div>
        """
        for g in p.groups {
            var head = String(format: "%.0f%% (%d of %d)", g.share * 100, g.examples.count, p.examples)
            if let f = g.feature {
                head = "feature \(f) · " + head
                if let n = notes[f] {
                    head += String(format: " · its density %.3f%%", n.density * 100)
                    head += " · fires most on " + n.topTokens.map { "‘\(display($0))’" }.joined(separator: " ")
                    if !n.promoted.isEmpty { head += " · promotes " + n.promoted.map { "‘\(display($0))’" }.joined(separator: " ") }
                }
            } else {
                head = "no sparse feature active · " + head
            }
            let cards = g.examples.map { i -> String in
                let e = examples[i]
                let own = g.feature.flatMap { f in e.companions.first { $0.feature == f } }
                return exampleCard(e, top: top, note: own.map { String(format: " · feature %d at the maximum: %.3f", $0.feature, Double($0.activation)) } ?? "",
                                   display: display)
            }.joined()
            let bar = "<span class=\"bar\" style=\"width:\(Int(g.share * 200))px;background:#7a5cc0\"></span>"
            out += "<div class=\"card\" style=\"background:#f6f3fc\">\(bar) <b>\(escape(head))</b>\(cards)</div>"
        }
        if p.groups.isEmpty { out += "<div class=\"card\">The neuron never fired on this corpus.</div>" }
        return out
    }
}
