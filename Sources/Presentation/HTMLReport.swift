import Foundation
import Interpretability
import LanternCore
import Models

/// Self-contained HTML pages (inline CSS and JS, nothing fetched) for the lens, features, the
/// dark-matter report and steering. Token text comes in already displayed (`display`), since this
/// module does not know tokenizers.
public enum HTMLReport {
    /// A whole page around `sections`.
    public static func page(title: String, subtitle: String = "", sections: [String]) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body{font:14px/1.4 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#1d1d1f;background:#fafafa}
        h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}.sub{color:#666;margin-bottom:16px}
        table{border-collapse:collapse}td,th{padding:3px 6px;font-size:12px}
        .lens td{border:1px solid #fff;min-width:54px;max-width:90px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;text-align:center;font-family:Menlo,Consolas,monospace}
        .lens th{font-family:Menlo,Consolas,monospace;font-weight:600;white-space:nowrap}
        .tok{display:inline-block;padding:2px 3px;margin:1px;border-radius:3px;font-family:Menlo,Consolas,monospace;white-space:pre;cursor:default}
        .card{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:12px 16px;margin:8px 0}
        .metrics td{border-bottom:1px solid #eee;text-align:right}.metrics th{text-align:left;border-bottom:2px solid #ddd}
        .bar{display:inline-block;height:10px;background:#4a7bd0;vertical-align:middle}
        .side{display:flex;gap:16px}.side>div{flex:1}.gen{font-family:Menlo,Consolas,monospace;white-space:pre-wrap}
        .new{background:#fff1b8}.legend{font-size:12px;color:#666}
        .hist{display:flex;align-items:flex-end;gap:2px;height:124px;border-bottom:1px solid #999}
        .run .tok{margin:1px 0;padding:2px 0;border-radius:0}
        .yaxis{display:flex;flex-direction:column;justify-content:space-between;height:124px;font-size:11px;color:#666;text-align:right;padding-right:4px}
        .hbar{flex:1;background:#e08a3c;min-height:1px}.axis{display:flex;justify-content:space-between;font-size:11px;color:#666}
        .mono{font-family:Menlo,Consolas,monospace;white-space:pre}.tok.max{outline:2px solid #b03a00}a{color:#2a5db0}
        #tip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:6px 8px;border-radius:4px;font:12px Menlo,monospace;white-space:pre;display:none}
        </style></head><body>
        <h1>\(escape(title))</h1><div class="sub">\(escape(subtitle))</div>
        \(sections.joined(separator: "\n"))
        <div id="tip"></div>
        <script>
        const tip=document.getElementById('tip');
        document.querySelectorAll('[data-tip]').forEach(e=>{
          e.addEventListener('mousemove',ev=>{tip.textContent=e.dataset.tip;tip.style.display='block';
            tip.style.left=(ev.clientX+12)+'px';tip.style.top=(ev.clientY+12)+'px'});
          e.addEventListener('mouseleave',()=>tip.style.display='none')});
        </script></body></html>
        """
    }

    /// Tokens highlighted by one feature's activation (or, when `feature` is nil, by the strongest
    /// feature's activation at each token: L0 is the same at every token of a TopK SAE). `link`
    /// gives a feature's dashboard page, when there is one, for its id to point at.
    public static func features(tokens: [String], perToken: [TokenFeatures], feature: Int?, activations: [Float]?,
                                link: (Int) -> String? = { _ in nil }) -> String {
        let values = activations ?? perToken.map { $0.top.map(\.activation).max() ?? 0 }
        let top = max(values.max() ?? 0, 1e-9)
        var spans = ""
        for (p, t) in perToken.enumerated() {
            let v = Double(values[p] / top)
            var tip = "\(tokens[p]) @ \(p)\nL0 \(t.l0)  ‖x−x̂‖/‖x‖ \(String(format: "%.3f", Double(t.relativeError)))\n"
            tip += t.top.map { String(format: "f%-6d %.3f", $0.feature, Double($0.activation)) }.joined(separator: "\n")
            spans += "<span class=\"tok\" style=\"background:\(color(v, hue: 24))\" data-tip=\"\(escape(tip))\">\(escape(tokens[p]))</span>"
        }
        var table = "<table class=\"metrics\"><tr><th>pos</th><th>token</th><th>L0</th><th>rel. error</th><th>top features</th></tr>"
        for (p, t) in perToken.enumerated() {
            let list = t.top.map { f in
                let text = escape(String(format: "%d (%.2f)", f.feature, Double(f.activation)))
                return link(f.feature).map { "<a href=\"\(escape($0))\">\(text)</a>" } ?? text
            }.joined(separator: ", ")
            table += "<tr><td>\(p)</td><td>\(escape(tokens[p]))</td><td>\(t.l0)</td><td>\(String(format: "%.3f", Double(t.relativeError)))</td><td style=\"text-align:left\">\(list)</td></tr>"
        }
        let what = feature.map { "feature \($0)'s activation" } ?? "the strongest feature's activation at each token"
        return "<h2>SAE features</h2><div class=\"legend\">Tokens shaded by \(escape(what)); hover for the top features. Feature ids link to feature-N.html beside this page (`lantern feature --id N --html feature-N.html`).</div><div class=\"card run\">\(spans)</div>\(table)</table>"
    }

    /// The dark-matter report: per-token bars of explained variance and relative error, and the totals.
    public static func evaluation(tokens: [String], perToken: [TokenMetrics], overall: OverallMetrics, dSAE: Int) -> String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "–" }
        var rows = "<tr><th>pos</th><th>token</th><th>L0</th><th>explained var.</th><th>cos(x, x̂)</th><th>‖x−x̂‖/‖x‖ (dark matter)</th><th>CE clean</th><th>CE SAE</th><th>CE zero</th></tr>"
        for (t, m) in zip(tokens, perToken) {
            let bar = "<span class=\"bar\" style=\"width:\(Int(min(max(m.relativeError, 0), 1.5) * 100))px;background:#c0504d\"></span>"
            rows += "<tr><td>\(m.position)</td><td>\(escape(t))</td><td>\(m.l0)</td><td>\(f(m.explainedVariance))</td><td>\(f(m.cosine))</td><td>\(bar) \(f(m.relativeError))</td><td>\(f(m.ceClean))</td><td>\(f(m.ceSAE))</td><td>\(f(m.ceZero))</td></tr>"
        }
        let o = overall
        let explained = max(0, min(1, o.explainedVariance))
        let summary = """
        <div class="card"><b>\(o.tokens) tokens</b> · L0 \(String(format: "%.1f", o.l0)) · explained variance \(f(o.explainedVariance)) · cosine \(f(o.cosine)) · ‖x−x̂‖/‖x‖ \(f(o.relativeError))<br>
        <span class="bar" style="width:\(Int(explained * 300))px"></span><span class="bar" style="width:\(Int((1 - explained) * 300))px;background:#333"></span>
        <span class="legend">explained (blue) vs dark matter (black)</span><br>
        CE clean \(f(o.ceClean)) · with SAE \(f(o.ceSAE)) · zero-ablated \(f(o.ceZero)) · <b>CE-loss score \(f(o.ceScore))</b> · <b>loss increase \(String(format: "%+.4f", o.lossIncrease)) nats (\(String(format: "%+.2f", o.lossIncreasePercent))% of clean)</b><br>
        dead features \(o.deadFeatures) / \(dSAE) · dense (fire on > \(Int(o.denseThreshold * 100))% of tokens) \(o.denseFeatures)</div>
        """
        return "<h2>Dark matter: what the SAE does not explain</h2>\(summary)<table class=\"metrics\">\(rows)</table>"
    }

    /// Baseline and steered continuations side by side.
    public static func steering(prompt: String, baseline: [String], steered: [String], description: String) -> String {
        func column(_ title: String, _ tokens: [String]) -> String {
            "<div class=\"card\"><b>\(escape(title))</b><div class=\"gen\">\(escape(prompt))<span class=\"new\">\(escape(tokens.joined()))</span></div></div>"
        }
        return "<h2>Steering</h2><div class=\"legend\">\(escape(description)); generated text highlighted.</div><div class=\"side\">\(column("Baseline", baseline))\(column("Steered", steered))</div>"
    }

    /// White → saturated colour (hue 215 blue by default) as `value` goes 0 → 1.
    static func color(_ value: Double, hue: Int = 215) -> String {
        let v = max(0, min(1, value))
        return "hsl(\(hue),70%,\(Int(100 - 58 * v))%)"
    }

    public static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\n": out += "&#10;"
            default: out.append(c)
            }
        }
        return out
    }
}
