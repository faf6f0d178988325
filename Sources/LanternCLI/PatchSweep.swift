import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern patch sweep`: activation patching over every matching hook × position (× head).
struct PatchSweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Patch every matching hook × position (and head, for attn.hook_z and other per-head hooks) from a corrupted prompt into the clean one.",
        discussion: """
            For each cell, the clean prompt runs with that one activation taken from the corrupted prompt's run; \
            the metric is logit(target) − logit(baseline) at the last position, normalised to 0 = corrupted run and \
            1 = clean run. One forward pass per cell, hooks × positions (× heads), each over the positions from the \
            patched one on (the clean prefix is cached). Both prompts must have the same number of tokens.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: "The corrupted prompt, as text.")
    var sourcePrompt: String?
    @Option(name: .customLong("source-token-ids"), help: "The corrupted prompt, as token ids.")
    var sourceTokens: String?
    @Option(name: .customLong("source-tokens"), help: .hidden)
    var oldSourceTokens: String?
    @Option(name: .long, help: "The token whose logit to watch (id, or text that is one token).")
    var target: String
    @Option(name: .long, help: "The token whose logit is subtracted (id or one-token text); omit to watch the target's logit alone.")
    var baseline: String?
    @Option(name: .long, parsing: .upToNextOption, help: "Hook patterns to sweep (globs; default blocks.*.hook_resid_pre).")
    var hooks: [String] = ["blocks.*.hook_resid_pre"]
    @Flag(name: .long, help: "Attribution patching: estimate every cell from one backward pass (gradient × activation difference) instead of one forward pass per cell.")
    var approx = false
    @Flag(name: .long, help: "With --approx: run the real sweep too and report how well the estimate agrees with it.")
    var compare = false
    @Flag(name: .long, help: "Print one JSON object with every grid.")
    var json = false
    @Option(name: .long, help: "Also write a self-contained HTML page with a heatmap per hook family.")
    var html: String?

    func validate() throws {
        if let oldSourceTokens { throw ValidationError("--source-tokens is now --source-token-ids \(oldSourceTokens) (--tokens is a count of tokens everywhere)") }
        if sourcePrompt != nil && sourceTokens != nil { throw ValidationError("give --source-prompt or --source-token-ids, not both") }
        if sourcePrompt == nil && sourceTokens == nil { throw ValidationError("a sweep needs the corrupted prompt: --source-prompt or --source-token-ids") }
        if compare && !approx { throw ValidationError("--compare compares attribution patching (--approx) with the real sweep: give --approx too") }
    }

    func run() throws {
        let loaded = try model.load(manyPasses: true)
        let context = loaded.analysisContext()
        let request = PatchSweepRequest(
            prompt: try prompt.input(), corrupted: try sourcePrompt.map { .text($0) } ?? .ids(try PromptOptions.tokenIDs(from: sourceTokens!, option: "--source-token-ids").map(Int.init)),
            target: .text(target), baseline: baseline.map { .text($0) }, hooks: hooks,
            method: approx ? (compare ? .both : .attribution) : .activation)
        try request.validate(against: context)
        let bar = ProgressBar(), start = Date()
        let output = try request.run(on: context, monitor: bar.monitor)
        bar.finish()
        let result = output.result
        if approx {
            let estimated = output.grids.filter { $0.method == PatchingMethod.attribution.rawValue }
            note(String(format: "attribution patching: %d grid(s) from one backward pass (%.1fs in all)", estimated.count, Date().timeIntervalSince(start)))
            for grid in estimated {
                if let a = grid.agreementWithActivationPatching {
                    note(String(format: "%@: attribution patching vs the real sweep: correlation %.3f, largest |difference| %.3f", grid.family, a.correlation, a.maxAbsDifference))
                }
            }
        }
        if let html {
            try writeHTML(HTMLReport.page(title: "Activation patching sweep", subtitle: "\(loaded.source) · \(result.cleanTokens.count) tokens",
                                          sections: HTMLReport.patchingSweep(result, display: loaded.shown)), to: html)
        }
        if json { try printJSON(output) } else { print(Self.table(result, model: loaded)) }
    }

    static func table(_ s: PatchingSweepResult, model: LanternModel) -> String {
        let n = s.cleanTokens.count
        let what = "logit(\(model.shown(s.target)))" + (s.baseline.map { " − logit(\(model.shown($0)))" } ?? "")
        var lines = [String(format: "%@ at the last position: clean %.4f, corrupted %.4f; cells: patched, normalised (0 = corrupted, 1 = clean)",
                            what, Double(s.cleanDifference), Double(s.corruptedDifference))]
        // The last positions that fit 80 columns: a 7-column label, then 6 per position.
        let shown = min(n, 12), first = n - shown
        for grid in s.grids {
            lines.append("")
            lines.append(grid.family + (grid.method == .attribution ? " — attribution patching (estimate)" : "") + (shown < n ? " (last \(shown) of \(n) positions; --json or --html for all)" : ""))
            lines.append(fit("", 7) + (first..<n).map { fit(" " + model.shown(s.cleanTokens[$0]), 6) }.joined())
            for (r, row) in grid.rows.enumerated() {
                lines.append(fit(row.label, 7) + (first..<n).map { String(format: "%6.2f", Double(grid.values[r][$0])) }.joined())
            }
        }
        return lines.joined(separator: "\n")
    }
}
