import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern attribute`: direct logit attribution of a logit difference to the embedding, every
/// head and every MLP.
struct Attribute: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Direct logit attribution: how much the embedding, each head and each MLP add to logit(target) − logit(baseline) at the last position.",
        discussion: """
            Each component is read through the final norm at its frozen scale (TransformerLens's apply_ln_to_stack) \
            and the unembedding direction W_U[target] − W_U[baseline]. Heads are each head's output (hook_result); \
            for Gemma, scaled by the post-attention norm's gain over the rms of the whole attention branch, so the \
            heads of a layer sum to its hook_attn_out. RMSNorm has no bias: the components sum to the logit \
            difference, except for Gemma 2's final softcap, reported as the remainder.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: "The token whose logit to explain (id, or text that is one token).")
    var target: String
    @Option(name: .long, help: "The token whose logit is subtracted (id or one-token text); omit to attribute the target's logit alone.")
    var baseline: String?
    @Option(name: .long, help: "How many components the table shows.")
    var top = 15
    @Option(name: .long, help: "Table order: abs (|value|, largest first), value (largest first) or layer (forward order).")
    var sort = "abs"
    @Flag(name: .long, help: "Print one JSON object with every component.")
    var json = false
    @Option(name: .long, help: "Also write a self-contained HTML page (layers × heads heatmap, MLP column, sortable table).")
    var html: String?

    func validate() throws {
        try OptionCheck.integer(top, "--top", 1...1_000_000)
        if !["abs", "value", "layer"].contains(sort) { throw ValidationError("--sort must be abs, value or layer") }
    }

    func run() throws {
        let loaded = try model.load()
        let context = loaded.analysisContext()
        let request = AttributeRequest(prompt: try prompt.input(), target: .text(target), baseline: baseline.map { .text($0) })
        try request.validate(against: context)
        let output = try request.run(on: context, monitor: AnalysisMonitor())
        let result = output.result, ids = result.tokens
        if let html {
            try writeHTML(HTMLReport.page(title: "Direct logit attribution", subtitle: "\(loaded.source) · \(ids.count) tokens",
                                          sections: HTMLReport.attribution(result, display: loaded.shown)), to: html)
        }
        if json { try printJSON(output) } else { print(table(result, model: loaded)) }
    }

    func table(_ a: LogitAttribution, model: LanternModel) -> String {
        let what = "logit(\(model.shown(a.target)))" + (a.baselineShown(model).map { " − logit(\($0))" } ?? "")
        var lines = [String(format: "%@ at position %d (%@): %.4f", what, a.tokens.count - 1, model.shown(a.tokens.last!), Double(a.logitDifference))]
        let ordered: [AttributionComponent]
        switch sort {
        case "value": ordered = a.components.sorted { $0.value > $1.value }
        case "layer": ordered = a.components
        default: ordered = a.ranked()
        }
        let shown = ordered.prefix(top)
        let largest = max(a.components.map { abs($0.value) }.max() ?? 1, 1e-30)
        lines.append("component      value  ")
        for c in shown {
            let bar = String(repeating: c.value >= 0 ? "█" : "░", count: Int((abs(c.value) / largest * 24).rounded()))
            lines.append(fit(c.name, 10) + String(format: "%+11.4f  ", Double(c.value)) + bar)
        }
        if shown.count < a.components.count { lines.append("(\(shown.count) of \(a.components.count) components; --top, --json or --html for all)") }
        lines.append(String(format: "sum of components %.4f; remainder %+.2e", Double(a.componentSum), Double(a.remainder)))
        lines.append("remainder: " + a.remainderExplanation)
        return lines.joined(separator: "\n")
    }
}

extension LogitAttribution {
    func baselineShown(_ model: LanternModel) -> String? { baseline.map(model.shown) }
}
