import Foundation
import Interpretability
import LanternCore
import Models

extension HTMLReport {
    /// The lens as heatmaps (the logit lens, and the tuned lens beside it when there is one): a row
    /// per residual (last layer on top), a column per token; each cell shows the top token on a
    /// background as dark as its probability, the top-k on hover; a last column gives the
    /// answer's rank at the last position, and a line says from which layer it is the top-1.
    public static func lens(_ result: LensResult, display shown: (Int32) -> String) -> [String] {
        func display(_ id: Int32) -> String { visibleWhitespace(shown(id)) }
        // Shaded against the largest probability of both tables, so that a flat (early-layer,
        // tiny-model) distribution still shows its structure; the legend gives the scale.
        let all = [result.cells] + (result.tunedCells.map { [$0] } ?? [])
        let maxP = Double(all.flatMap { $0.flatMap { $0.compactMap { $0.top.first?.probability } } }.max() ?? 1)
        let answerText = display(result.answer.token)
        func layer(_ row: Int) -> String { row == 0 ? "the embedding" : "layer \(result.rowLabels[row])" }
        func appears(_ a: LensAnswer) -> String {
            guard let row = a.firstTopRow else {
                return "is not the top-1 at the last layer" + (a.firstTopRowAny.map { " (it is at \(layer($0)))" } ?? "")
            }
            let first = a.firstTopRowAny.flatMap { $0 < row ? " (first top-1 at \(layer($0)), then not at every layer)" : nil } ?? ""
            return "is the top-1 from \(layer(row)) on" + first
        }
        func heatmap(_ title: String, _ cells: [[LensCell]], _ answer: LensAnswer) -> String {
            var rows = ""
            for r in cells.indices.reversed() {
                let firstTop = answer.firstTopRow.map { r >= $0 } ?? false
                rows += "<tr><th>\(escape(result.rowLabels[r]))</th>"
                for (p, cell) in cells[r].enumerated() {
                    let top = cell.top.first
                    let prob = Double(top?.probability ?? 0)
                    var tip = "\(title): \(result.hookNames[r]) @ \(p) (\(display(result.tokens[p])))\n"
                    tip += cell.top.map { String(format: "%6.2f%%  %@", Double($0.probability) * 100, display($0.token)) }.joined(separator: "\n")
                    tip += String(format: "\nentropy %.3f nats", Double(cell.entropy))
                    if let rank = cell.targetRank, let tp = cell.targetProbability {
                        tip += String(format: "\ntarget rank %d, p = %.4f", rank, Double(tp))
                    }
                    let text = prob / maxP > 0.55 ? "#fff" : "#111"
                    rows += "<td style=\"background:\(color(prob / maxP));color:\(text)\" data-tip=\"\(escape(tip))\">\(escape(display(top?.token ?? 0)))</td>"
                }
                let rankTip = String(format: "%@ at the last position: rank %d, p = %.4f", answerText, answer.ranks[r], Double(answer.probabilities[r]))
                rows += "<td class=\"rank\" style=\"\(firstTop ? "font-weight:700;background:#fff1b8" : "")\" data-tip=\"\(escape(rankTip))\">\(answer.ranks[r])</td></tr>\n"
            }
            let header = "<tr><th></th>" + result.tokens.map { "<th>\(escape(display($0)))</th>" }.joined()
                + "<th>rank of \(escape(answerText))</th></tr>"
            return """
            <div style="overflow-x:auto">\(result.tunedCells == nil ? "" : "<h2>\(escape(title))</h2>")<div class="legend">\(escape(answerText)) \(escape(appears(answer))).</div>
            <table class="lens">\(header)\n\(rows)</table></div>
            """
        }
        let who = result.answer.given ? "the target" : "the model's own top-1 at the last position"
        let legend = """
        <div class="legend">Rows: residual stream after each layer (embed = before layer 0), read through the final norm and unembedding\(result.tunedCells == nil ? "" : " (tuned lens: through each layer's translator first\(result.tunedSource.map { ", from " + escape($0) } ?? ""))"). Cell: most likely next token, shaded by its probability (white 0 → darkest blue \(String(format: "%.1f%%", maxP * 100)), the largest here). Hover for the top-\(result.cells.first?.first?.top.count ?? 0). Last column: the rank of \(escape(answerText)) (\(who)) at the last position; highlighted from the layer where it becomes the top-1 and stays so.</div>
        """
        var maps = heatmap("Logit lens", result.cells, result.answer)
        if let tuned = result.tunedCells, let answer = result.tunedAnswer {
            maps = "<div class=\"side\"><div>\(maps)</div><div>\(heatmap("Tuned lens", tuned, answer))</div></div>"
        }
        return [legend, maps]
    }

    /// A token whose text is only whitespace shows its characters (␣ space, ⏎ newline, ⇥ tab)
    /// instead of an empty-looking cell; newlines and tabs inside other tokens show too.
    public static func visibleWhitespace(_ text: String) -> String {
        let marked = text.replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: "\t", with: "⇥")
            .replacingOccurrences(of: "\\n", with: "⏎").replacingOccurrences(of: "\\t", with: "⇥")
        guard !marked.isEmpty else { return "∅" }
        return marked.allSatisfy { $0 == " " } ? String(repeating: "␣", count: marked.count) : marked
    }
}
