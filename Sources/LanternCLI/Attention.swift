import ArgumentParser
import Foundation
import Lantern

/// `lantern attention`: every head's attention pattern, as a page to explore and a summary.
struct Attention: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attention patterns per layer and head: a page to explore them (pick layer and head, hover a query token) and where each head's last query looks.",
        discussion: "The table lists, per layer and head, the keys the last token attends to most. --html writes the CircuitsVis-like page; --json the patterns."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: "Layers to show, comma-separated (default: all).")
    var layer: String?
    @Option(name: .long, help: "How many keys per head the table lists.")
    var top = 3
    @Flag(name: .long, help: "Print one JSON object with the patterns ([heads][query][key] per layer).")
    var json = false
    @Option(name: .long, help: "Write the self-contained attention-pattern page to this file.")
    var html: String?

    func validate() throws {
        try OptionCheck.integer(top, "--top", 1...1_000_000)
        if top < 1 { throw ValidationError("--top must be ≥ 1") }
    }

    func run() throws {
        let loaded = try model.load()
        let ids = try prompt.ids(for: loaded)
        let c = loaded.config
        let layers = try layer.map { try integers($0, what: "--layer", distinct: true) } ?? Array(0..<c.layerCount)
        if let bad = layers.first(where: { $0 < 0 || $0 >= c.layerCount }) {
            throw LanternError.invalidArgument("--layer \(bad) is out of range: the model has \(c.layerCount) layers (0..<\(c.layerCount))")
        }
        let hooks = Hooks(capture: HookFilter(layers.map { "blocks.\($0).attn.hook_pattern" }))
        try loaded.transformer.forward(ids, hooks: hooks, logits: .none, stopAfterLayer: layers.max())
        let patterns = try layers.map { l -> [Float] in
            guard let p = hooks.activation("blocks.\(l).attn.hook_pattern") else { throw LanternError.backend("no pattern for layer \(l)") }
            return try loaded.backend.read(p)
        }
        let n = ids.count, pieces = ids.map(loaded.shown)
        if let html {
            try writeHTML(HTMLReport.page(title: "Attention patterns", subtitle: "\(loaded.source) · \(n) tokens",
                                          sections: try HTMLReport.attentionPatterns(tokens: pieces, layers: layers, heads: c.heads, patterns: patterns)), to: html)
        }
        if json {
            print(try jsonString([
                "tokens": ids.map(Int.init), "pieces": ids.map(loaded.display), "layers": layers, "heads": c.heads,
                "patterns": patterns.map { p in (0..<c.heads).map { h in (0..<n).map { q in (0..<n).map { k in Double(p[(h * n + q) * n + k]) } } } },
            ]))
            return
        }
        print("where the last token (\(pieces[n - 1]) @ \(n - 1)) looks, per layer and head:")
        for (i, l) in layers.enumerated() {
            for h in 0..<c.heads {
                let row = Array(patterns[i][((h * n + n - 1) * n)..<((h * n + n) * n)])
                let keys = Ranking.largest(min(top, n), of: row).map { String(format: "%@ @%d %.0f%%", pieces[$0], $0, Double(row[$0]) * 100) }
                print(String(format: "L%-3d H%-2d ", l, h) + keys.joined(separator: "  "))
            }
        }
    }
}
