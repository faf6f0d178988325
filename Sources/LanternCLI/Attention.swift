import Analyses
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
    }

    func run() throws {
        let loaded = try model.load()
        let context = loaded.analysisContext()
        let request = AttentionRequest(prompt: try prompt.input(), layers: try layer.map { try integers($0, what: "--layer", distinct: true) })
        try request.validate(against: context)
        let result = try request.run(on: context, monitor: AnalysisMonitor())
        let n = result.tokens.count, heads = result.heads, pieces = result.tokens.map { loaded.shown(Int32($0)) }
        if let html {
            try writeHTML(HTMLReport.page(title: "Attention patterns", subtitle: "\(loaded.source) · \(n) tokens",
                                          sections: try HTMLReport.attentionPatterns(tokens: pieces, layers: result.layers, heads: heads, patterns: result.values)), to: html)
        }
        if json { return try printJSON(result) }
        print("where the last token (\(pieces[n - 1]) @ \(n - 1)) looks, per layer and head:")
        for (i, l) in result.layers.enumerated() {
            for h in 0..<heads {
                let row = Array(result.values[i][((h * n + n - 1) * n)..<((h * n + n) * n)])
                let keys = Ranking.largest(min(top, n), of: row).map { String(format: "%@ @%d %.0f%%", pieces[$0], $0, Double(row[$0]) * 100) }
                print(String(format: "L%-3d H%-2d ", l, h) + keys.joined(separator: "  "))
            }
        }
    }
}
