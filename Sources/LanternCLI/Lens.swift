import ArgumentParser
import Foundation
import Lantern

/// `lantern lens`: the logit lens over every layer and position.
struct Lens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read every layer's residual stream through the unembedding (the logit lens).",
        discussion: "Rows: hook_embed (layer 0's resid_pre) and each layer's resid_post, through the final norm, unembedding and (Gemma 2) final softcap. The table shows the last positions that fit 80 columns; --json has everything."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: "How many top tokens to keep per cell.")
    var topK = 5

    @Option(name: .long, help: "A token (id, or text that is one token) whose rank and probability to report.")
    var target: String?

    @Flag(name: .long, help: "Print all the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML heatmap to this file.")
    var html: String?

    func validate() throws { if topK < 1 { throw ValidationError("--top-k must be ≥ 1") } }

    func run() throws {
        let loaded = try model.load()
        let ids = try prompt.ids(for: loaded)
        let targetID = try target.map(loaded.tokenID)
        let result = try LogitLens.run(loaded.transformer, tokens: ids, topK: topK, target: targetID)
        if let html {
            try writeHTML(HTMLReport.page(title: "Logit lens", subtitle: "\(loaded.source) · \(ids.count) tokens",
                                          sections: [HTMLReport.lens(result, display: loaded.shown)]), to: html)
        }
        if json { print(try jsonString(Self.json(result, model: loaded))) } else { print(Self.table(result, model: loaded)) }
    }

    static func json(_ r: LensResult, model: LanternModel) -> [String: Any] {
        var object: [String: Any] = [
            "tokens": r.tokens.map(Int.init), "token_text": r.tokens.map(model.display), "hooks": r.hookNames,
            "layers": r.cells.enumerated().map { row, cells in
                ["hook": r.hookNames[row], "label": r.rowLabels[row], "positions": cells.map { cell -> [String: Any] in
                    var c: [String: Any] = ["top": cell.top.map { ["id": Int($0.token), "text": model.display($0.token), "p": Double($0.probability)] },
                                            "entropy": Double(cell.entropy)]
                    if let rank = cell.targetRank, let p = cell.targetProbability { c["target_rank"] = rank; c["target_p"] = Double(p) }
                    return c
                }] as [String: Any]
            },
        ]
        if let t = r.target { object["target"] = Int(t) }
        return object
    }

    /// Layers down, positions across (the last ones that fit 80 columns), top token per cell,
    /// shaded by probability when standard output is a terminal.
    static func table(_ r: LensResult, model: LanternModel) -> String {
        let labelWidth = 7, cellWidth = 9
        let fitting = max(1, (80 - labelWidth) / cellWidth)
        let positions = Array(r.tokens.indices.suffix(fitting))
        var lines: [String] = []
        let maxP = Double(r.cells.flatMap { row in positions.map { row[$0].top[0].probability } }.max() ?? 1)
        if stdoutIsTerminal { lines.append(String(format: "shading: probability of the top token, darkest = %.3f", maxP)) }
        if positions.count < r.tokens.count { lines.append("(last \(positions.count) of \(r.tokens.count) positions; --json for all)") }
        lines.append(fit("", labelWidth) + positions.map { " " + fit(model.shown(r.tokens[$0]), cellWidth - 1) }.joined())
        for row in r.cells.indices.reversed() {
            var line = fit(r.rowLabels[row], labelWidth)
            for p in positions {
                let top = r.cells[row][p].top[0]
                let text = " " + fit(model.shown(top.token), cellWidth - 1)
                line += stdoutIsTerminal ? shade(text, Double(top.probability) / maxP) : text
            }
            lines.append(line)
        }
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
