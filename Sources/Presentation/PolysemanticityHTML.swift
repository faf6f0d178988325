import Foundation
import Interpretability
import LanternCore
import Models

/// The polysemanticity view of a neuron page, as a section for `HTMLReport.page`.
extension HTMLReport {
    /// The unit's top contexts grouped by SAE feature: per group the feature, its share of the top
    /// contexts, what the feature itself fires on and promotes, and the contexts.
    public static func polysemanticity(_ p: Polysemanticity, examples: [FeatureExample], notes: [Int: GroupFeatureNote],
                                       sae: String, maxDensity: Double, display: (Int32) -> String) -> String {
        let top = max(examples.first?.maxActivation ?? 0, 1e-9)
        var out = """
        <h2>Polysemanticity: the top contexts grouped by SAE feature</h2>
        <div class="legend">The three strongest features of \(escape(sae)) active at each top context's strongest token (leaving out features that fire on
        more than \(String(format: "%g", maxDensity * 100))% of the scanned tokens) group the contexts by a greedy set cover: the feature shared by
        the most ungrouped contexts takes them, while some feature is shared by two or more. Effective number of features exp(−Σ p ln p)
        over the shared groups' shares p: 1 = one feature runs through every top context; coverage = the share in shared groups.
        Unrelated features: the same with related features counted as one, exp(−Σᵢ pᵢ ln Σⱼ Zᵢⱼ pⱼ), Zᵢⱼ the larger of the two features'
        decoder |cos| and the Jaccard overlap of their ten most promoted tokens (Leinster and Cobbold's similarity-sensitive diversity).</div>
        <div class="card"><b>\(p.distinctFeatures) shared features over \(p.examples) top contexts · effective number \(String(format: "%.2f", p.effectiveFeatures)) · coverage \(String(format: "%.0f%%", p.coverage * 100))</b>
        """
        if let u = p.unrelatedness {
            func figure(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "–" }
            out += "<br><b>\(String(format: "%.2f", u.unrelatedFeatures)) unrelated features</b> · mean |cos| of their decoder directions \(figure(u.meanAbsCosine))"
            out += " · mean overlap (Jaccard) of their top promoted tokens \(figure(u.meanPromotedOverlap))"
        }
        out += "</div>"
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
                head = "sharing no feature with another top context · " + head
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
