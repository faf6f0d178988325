import Foundation
import Interpretability
import LanternCore
import Models

/// Feature dashboards and their index, as sections for `HTMLReport.page`.
extension HTMLReport {
    /// A feature's (or neuron's) dashboard: figures, histogram, logit effects and top examples.
    public static func featureDashboard(_ d: FeatureDashboard, display: (Int32) -> String) -> [String] {
        let s = d.summary
        let figures = String(format: "density %.4f%% (%d of %d tokens) · max activation %.3f · mean when firing %.3f · ‖%@‖ %.3f",
                             s.density * 100, s.firing, s.tokens, Double(s.maxActivation), s.meanActivation,
                             d.unitName == "feature" ? "W_dec[f]" : "direction", Double(d.directionNorm))
        return ["<div class=\"card\">\(escape(figures))</div>",
                "<div class=\"side\"><div>\(histogramSection(d.histogram))</div><div>\(logitSection(d.logits, formula: d.directionFormula, display: display))</div></div>",
                examplesSection(d.examples, unitName: d.unitName, display: display)]
    }

    static func histogramSection(_ h: FeatureHistogram) -> String {
        let top = max(h.counts.max() ?? 0, 1)
        var bars = ""
        for (i, c) in h.counts.enumerated() {
            let lo = Double(h.upper) * Double(i) / Double(h.counts.count), hi = Double(h.upper) * Double(i + 1) / Double(h.counts.count)
            let tip = String(format: "%.3f – %.3f: %d", lo, hi, c)
            bars += "<div class=\"hbar\" style=\"height:\(Int(Double(c) / Double(top) * 120))px\" data-tip=\"\(escape(tip))\"></div>"
        }
        let note = h.sampled ? "a uniform sample of \(h.values) nonzero activations" : "\(h.values) nonzero activations"
        return """
        <h2>Activation histogram</h2><div class="legend">\(note), 0 to \(String(format: "%.3f", Double(h.upper))); hover a bar for its count.</div>
        <div class="card"><div style="display:flex"><div class="yaxis" title="tokens per bin"><span>\(top)</span><span>\(top / 2)</span><span>0</span></div>
        <div style="flex:1"><div class="hist">\(bars)</div><div class="axis"><span>0</span><span>activation</span><span>\(String(format: "%.2f", Double(h.upper)))</span></div></div></div>
        <div class="legend">y: tokens per bin (0 to \(top)); x: activation.</div></div>
        """
    }

    static func logitSection(_ l: LogitEffects, formula: String, display: (Int32) -> String) -> String {
        let scale = max(l.positive.map { abs($0.logit) }.max() ?? 0, l.negative.map { abs($0.logit) }.max() ?? 0, 1e-9)
        func rows(_ list: [TokenLogit], _ colour: String) -> String {
            list.map { t in
                "<tr><td class=\"mono\">\(escape(display(t.token)))</td><td>\(String(format: "%+.3f", Double(t.logit)))</td>"
                    + "<td><span class=\"bar\" style=\"width:\(Int(Double(abs(t.logit) / scale) * 100))px;background:\(colour)\"></span></td></tr>"
            }.joined()
        }
        return """
        <h2>Logit effects</h2><div class="legend">\(escape(formula)), times the final norm's gain and W_Uᵀ: the direction through the unembedding alone (the norm's 1/rms and any softcap left out; TransformerLens's fold_ln convention).</div>
        <div class="side"><div class="card"><b>Promoted</b><table class="metrics">\(rows(l.positive, "#3a9a5b"))</table></div>
        <div class="card"><b>Suppressed</b><table class="metrics">\(rows(l.negative, "#c0504d"))</table></div></div>
        """
    }

    static func examplesSection(_ examples: [FeatureExample], unitName: String, display: (Int32) -> String) -> String {
        let top = max(examples.first?.maxActivation ?? 0, 1e-9)
        var cards = examples.map { exampleCard($0, top: top, display: display) }.joined()
        if examples.isEmpty { cards = "<div class=\"card\">The \(unitName) never fired on this corpus.</div>" }
        return "<h2>Top activating contexts</h2><div class=\"legend\">Tokens shaded by the \(unitName)'s activation (darkest = the top example's maximum); the maximum is outlined. Hover for values.</div>\(cards)"
    }

    /// One example's window, tokens shaded by activation against `top`; `note` is added to its caption.
    static func exampleCard(_ e: FeatureExample, top: Float, note: String = "", display: (Int32) -> String) -> String {
        var spans = ""
        for (i, (t, a)) in zip(e.tokens, e.activations).enumerated() {
            let text = display(t).replacingOccurrences(of: "\n", with: "↵")
            let mark = i == e.maxIndex ? " max" : ""
            spans += "<span class=\"tok\(mark)\" style=\"background:\(color(Double(a / top), hue: 24))\" data-tip=\"\(escape(String(format: "%@ @ %d: %.3f", display(t), e.windowStart + i, Double(a))))\">\(escape(text))</span>"
        }
        return "<div class=\"card run\"><span class=\"legend\">\(String(format: "%.3f", Double(e.maxActivation))) · context \(e.context), position \(e.position)\(escape(note))</span><br>\(spans)</div>"
    }

    /// The index of a survey: one row per feature (or neuron), linking to its page; `extra` adds
    /// plain columns after the figures (one list per row, headed by `extraHeaders`).
    public static func featureIndex(_ rows: [(summary: FeatureSummary, link: String, top: [[String]])], ranking: String,
                                    unitName: String = "feature", extraHeaders: [String] = [], extra: [[String]] = []) -> String {
        var table = "<table class=\"metrics\"><tr><th>\(escape(unitName))</th><th>density</th><th>max</th><th>mean</th>"
            + extraHeaders.map { "<th>\(escape($0))</th>" }.joined() + "<th>top activating tokens</th><th>promoted tokens</th></tr>"
        for (i, r) in rows.enumerated() {
            let s = r.summary
            table += "<tr><td><a href=\"\(escape(r.link))\">\(s.feature)</a></td><td>\(String(format: "%.4f%%", s.density * 100))</td>"
                + "<td>\(String(format: "%.3f", Double(s.maxActivation)))</td><td>\(String(format: "%.3f", s.meanActivation))</td>"
                + (i < extra.count ? extra[i].map { "<td>\(escape($0))</td>" }.joined() : "")
                + r.top.map { "<td style=\"text-align:left\">" + $0.map { "<span class=\"tok\" style=\"background:#eee\">\(escape($0))</span>" }.joined() + "</td>" }.joined() + "</tr>"
        }
        return "<h2>\(escape(unitName.prefix(1).uppercased() + unitName.dropFirst()))s by \(escape(ranking))</h2>\(table)</table>"
    }
}
