import Foundation
import Lantern

/// How `lens` prints: the terminal table and the JSON object.
enum LensTable {
    /// "top-1 from layer 15 on (first top-1 at layer 12)", "top-1 from the embedding on", or why not.
    static func appears(_ a: LensAnswer, _ r: LensResult) -> String {
        func layer(_ row: Int) -> String { row == 0 ? "the embedding" : "layer \(r.rowLabels[row])" }
        guard let row = a.firstTopRow else {
            return "not the top-1 at the last layer" + (a.firstTopRowAny.map { " (top-1 at \(layer($0)))" } ?? "")
        }
        let first = a.firstTopRowAny.flatMap { $0 < row ? " (first top-1 at \(layer($0)))" : nil } ?? ""
        return "top-1 from \(layer(row)) on\(first)"
    }

    /// Layers down, positions across (the last ones that fit 80 columns; logit and tuned lens side
    /// by side when there is a tuned lens), top token per cell, shaded by probability when standard
    /// output is a terminal; then the answer's rank per layer at the last position.
    static func table(_ r: LensResult, model: LanternModel) -> String {
        let labelWidth = 7, cellWidth = 9, rankWidth = 9
        let lenses: [(name: String, cells: [[LensCell]], answer: LensAnswer)] =
            [("logit", r.cells, r.answer)] + (r.tunedCells.map { [("tuned", $0, r.tunedAnswer!)] } ?? [])
        let fitting = max(1, (80 - labelWidth - lenses.count * rankWidth) / (lenses.count * cellWidth))
        let positions = Array(r.tokens.indices.suffix(fitting))
        var lines: [String] = []
        let maxP = Double(lenses.flatMap { lens in lens.cells.flatMap { row in positions.map { row[$0].top[0].probability } } }.max() ?? 1)
        if stdoutIsTerminal { lines.append(String(format: "shading: probability of the top token, darkest = %.3f", maxP)) }
        if positions.count < r.tokens.count { lines.append("(last \(positions.count) of \(r.tokens.count) positions; --json for all)") }
        let groupWidth = lenses.count * cellWidth
        lines.append(fit("", labelWidth) + positions.map { " " + fit(model.shown(r.tokens[$0]), groupWidth - 1) }.joined()
                     + (lenses.count > 1 ? fit("   answer's rank", lenses.count * rankWidth) : fit("   answer", rankWidth)))
        if lenses.count > 1 {
            lines.append(fit("", labelWidth) + String(repeating: lenses.map { " " + fit($0.name, cellWidth - 1) }.joined(), count: positions.count)
                         + lenses.map { fit(" " + $0.name, rankWidth) }.joined())
        }
        for row in r.cells.indices.reversed() {
            var line = fit(r.rowLabels[row], labelWidth)
            for p in positions {
                for lens in lenses {
                    let top = lens.cells[row][p].top[0]
                    let text = " " + fit(model.shown(top.token), cellWidth - 1)
                    line += stdoutIsTerminal ? shade(text, Double(top.probability) / maxP) : text
                }
            }
            for lens in lenses { line += fit(String(format: "%9d", lens.answer.ranks[row]), rankWidth) }
            lines.append(line)
        }
        let who = r.answer.given ? "the target" : "the model's top-1 at the last position"
        let answer = model.tokenizer == nil ? "#\(r.answer.token)" : "'\(model.shown(r.answer.token))' (#\(r.answer.token))"
        lines.append("answer \(answer): \(who) (rank on the right)")
        for lens in lenses { lines.append("  \(lens.name) lens: \(appears(lens.answer, r))") }
        if let t = r.target {
            lines.append("target \(model.tokenizer == nil ? "#\(t)" : "\(model.shown(t)) (#\(t))") at the last layer, rank (p): " + positions.map { p in
                let c = r.cells.last![p]
                return "\(c.targetRank ?? 0) (\(String(format: "%.3f", Double(c.targetProbability ?? 0))))"
            }.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }

    /// An ANSI 256-colour background on the blue ramp, darker for higher probability.
    static func shade(_ text: String, _ p: Double) -> String {
        let ramp = [255, 195, 153, 117, 75, 33, 26, 19]
        let index = min(ramp.count - 1, Int(p * Double(ramp.count)))
        let foreground = index >= 5 ? 15 : 16
        return "\u{1B}[48;5;\(ramp[index])m\u{1B}[38;5;\(foreground)m\(text)\u{1B}[0m"
    }
}
