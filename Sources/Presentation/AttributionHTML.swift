import Foundation
import Interpretability
import LanternCore
import Models

/// Pages for direct logit attribution and patching sweeps: heatmaps on a diverging scale (red
/// above zero, blue below, white at zero) with the value on hover.
extension HTMLReport {
    /// Red for positive, blue for negative, white at zero; `value / scale` saturates at ±1.
    static func diverging(_ value: Double, scale: Double) -> String {
        let v = max(-1, min(1, scale > 0 ? value / scale : 0))
        return "hsl(\(v >= 0 ? 8 : 215),75%,\(Int(100 - 55 * abs(v)))%)"
    }

    /// A grid of cells shaded on the diverging scale: `cells[row][column]` = (text, value, tip).
    static func divergingTable(columns: [String], rows: [String], cells: [[(text: String, value: Double, tip: String)]], scale: Double) -> String {
        var html = "<table class=\"lens\"><tr><th></th>" + columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
        for (r, label) in rows.enumerated() {
            html += "<tr><th>\(escape(label))</th>"
            for cell in cells[r] {
                let dark = abs(cell.value) / max(scale, 1e-30) > 0.6
                html += "<td style=\"background:\(diverging(cell.value, scale: scale));color:\(dark ? "#fff" : "#111")\" data-tip=\"\(escape(cell.tip))\">\(escape(cell.text))</td>"
            }
            html += "</tr>\n"
        }
        return html + "</table>"
    }

    /// A table whose columns sort on a click (numbers by |value| first, then by value).
    static func sortableTable(id: String, header: [String], rows: [[String]], numericColumns: Set<Int>) -> String {
        var html = "<table class=\"metrics\" id=\"\(id)\"><tr>"
        for (i, h) in header.enumerated() {
            html += "<th style=\"cursor:pointer\" onclick=\"sortBy_\(id)(\(i),\(numericColumns.contains(i)))\">\(escape(h)) ⇅</th>"
        }
        html += "</tr>" + rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined(separator: "\n") + "</table>"
        html += """
        <script>
        let order_\(id)={};
        function sortBy_\(id)(col,numeric){
          const t=document.getElementById('\(id)'),rows=Array.from(t.rows).slice(1);
          const key=r=>{const s=r.cells[col].textContent;return numeric?parseFloat(s):s};
          const k=(order_\(id)[col]=(order_\(id)[col]||0)+1)%3;
          rows.sort((a,b)=>{const x=key(a),y=key(b);
            if(!numeric)return k===1?(x<y?-1:x>y?1:0):(x<y?1:x>y?-1:0);
            return k===1?Math.abs(y)-Math.abs(x):k===2?y-x:x-y});
          rows.forEach(r=>t.tBodies[0].appendChild(r))}
        </script>
        """
        return html
    }

    /// Direct logit attribution: a layers × heads heatmap with the MLP in its own column and the
    /// embedding on its own row, the sum and remainder, and every component in a sortable table.
    public static func attribution(_ a: LogitAttribution, display: (Int32) -> String) -> [String] {
        let what = "logit(\(display(a.target)))" + (a.baseline.map { " − logit(\(display($0)))" } ?? "")
        let scale = Double(a.components.map { abs($0.value) }.max() ?? 1)
        func f(_ x: Float) -> String { String(format: "%+.3f", Double(x)) }
        let grid = a.headGrid, mlp = a.mlpColumn
        var cells: [[(text: String, value: Double, tip: String)]] = []
        for l in (0..<a.layers).reversed() {
            var row = grid[l].enumerated().map { h, v in (f(v), Double(v), "L\(l)H\(h): \(f(v)) of \(what)") }
            row.append((f(mlp[l]), Double(mlp[l]), "MLP\(l): \(f(mlp[l]))"))
            cells.append(row)
        }
        cells.append(Array(repeating: ("", 0, ""), count: a.heads) + [(f(a.embedding), Double(a.embedding), "embedding: \(f(a.embedding))")])
        let columns = (0..<a.heads).map { "H\($0)" } + ["MLP"]
        let rows = (0..<a.layers).reversed().map { "L\($0)" } + ["embed"]
        let summary = """
        <div class="card"><b>\(escape(what))</b> at the last position (\(escape(display(a.tokens.last!)))): \
        \(f(a.logitDifference)) · Σ components \(f(a.componentSum)) · remainder \(String(format: "%+.2e", Double(a.remainder)))<br>
        <span class="legend">Remainder: \(escape(a.remainderExplanation)). Final norm frozen at 1/rms = \(String(format: "%.4g", Double(a.finalScale))).</span></div>
        """
        let legend = "<div class=\"legend\">Each cell: that component's direct contribution to \(escape(what)) through the final norm at its frozen scale (red raises it, blue lowers it; full colour at ±\(String(format: "%.3g", scale))). Heads are shares of the attention output before the post-attention norm (Gemma, OLMo 2), scaled by that norm's frozen gain/rms; MLPs are hook_mlp_out.</div>"
        let ranked = a.ranked().enumerated().map { i, c in
            [String(i + 1), c.name, c.kind.rawValue, c.layer.map(String.init) ?? "–", c.head.map(String.init) ?? "–", String(format: "%+.5f", Double(c.value))]
        }
        return ["<h2>Direct logit attribution</h2>", summary, legend,
                "<div style=\"overflow-x:auto\">" + divergingTable(columns: columns, rows: rows, cells: cells, scale: scale) + "</div>",
                "<h2>Components</h2><div class=\"legend\">Click a header to sort (numbers: by |value|, then by value, then ascending).</div>",
                sortableTable(id: "components", header: ["rank", "component", "kind", "layer", "head", "value"], rows: ranked,
                              numericColumns: [0, 5])]
    }

    /// A patching sweep: one heatmap per hook family, rows × positions, token labels on top.
    public static func patchingSweep(_ s: PatchingSweepResult, display: (Int32) -> String) -> [String] {
        let what = "logit(\(display(s.target)))" + (s.baseline.map { " − logit(\(display($0)))" } ?? "")
        let columns = s.cleanTokens.enumerated().map { p, t in
            let corrupted = s.corruptedTokens[p]
            return corrupted == t ? "\(p) \(display(t))" : "\(p) \(display(t))/\(display(corrupted))"
        }
        var sections = ["""
            <h2>Activation patching</h2><div class="card">Metric: \(escape(what)) at the last position, normalised: 0 = corrupted run \
            (\(String(format: "%.4f", Double(s.corruptedDifference)))), 1 = clean run (\(String(format: "%.4f", Double(s.cleanDifference)))).</div>
            <div class="legend">Each cell: the clean prompt run with that one activation (row) at that position (column) taken from the corrupted prompt's run. Column labels: clean token, then /corrupted token where they differ. Cells near 1 (red): that activation alone does not carry the difference; near 0 (white): replacing it alone undoes the clean behaviour; blue: below the corrupted run.</div>
            """]
        for grid in s.grids {
            let scale = max(1, Double(grid.values.flatMap { $0 }.map(abs).max() ?? 1))
            let cells = grid.rows.indices.map { r in
                grid.values[r].indices.map { p -> (text: String, value: Double, tip: String) in
                    let v = grid.values[r][p]
                    return (String(format: "%.2f", Double(v)), Double(v),
                            "\(grid.rows[r].hook)\(grid.rows[r].head.map { " head \($0)" } ?? "") @ \(p)\nnormalised \(String(format: "%.4f", Double(v)))\nlogit difference \(String(format: "%.4f", Double(grid.logitDifferences[r][p])))")
                }
            }
            sections.append("<h2>\(escape(grid.family))\(grid.method == .activation ? "" : " (\(grid.method.rawValue) patching, approximate)")</h2>")
            sections.append("<div style=\"overflow-x:auto\">" + divergingTable(columns: columns, rows: grid.rows.map(\.label), cells: cells, scale: scale) + "</div>")
        }
        return sections
    }
}
