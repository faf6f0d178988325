import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern features`: a group whose default subcommand (`show`) is the per-token view, so
/// `lantern features --sae S --prompt P` works as before; `features top` surveys a corpus.
struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "SAE features: per token of a prompt (the default, `show`), or ranked over a corpus (`top`).",
        subcommands: [FeaturesShow.self, FeaturesTop.self, FeaturesSearch.self], defaultSubcommand: FeaturesShow.self)
}

/// `lantern features [show]`: which SAE features fire on which token.
struct FeaturesShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show the SAE features that fire on each token, with L0 and reconstruction error.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var saeOptions: SAEOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: ArgumentHelp(FeaturesRequest.top))
    var top = 5

    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: "Scan this many corpus tokens first (contexts of 128) to label each listed feature with its density and the tokens it fires on most (contexts of 128 tokens, or the model's context when shorter).")
    var labelTokens = 0

    @Option(name: .long, help: "Leave out features firing on more than this fraction of the scanned tokens (needs the scan: --label-tokens, 4096 when not given).")
    var maxDensity = 1.0

    @Option(name: .long, help: "Shade tokens in the HTML page by this feature (default: by L0).")
    var feature: Int?

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page to this file.")
    var html: String?

    func validate() throws {
        try OptionCheck.field(top, FeaturesRequest.top)
        try OptionCheck.integer(labelTokens, "--label-tokens", 0...OptionCheck.maxCount)
        try OptionCheck.integer(feature, "--feature", 0...Int(Int32.max))
        try OptionCheck.number(maxDensity, "--max-density", 0...1, above: true)
        guard labelTokens >= 0 else { throw ValidationError("--label-tokens must be 0 (no scan) or more") }
        guard maxDensity > 0, maxDensity <= 1 else { throw ValidationError("--max-density must be in (0, 1], got \(maxDensity)") }
    }

    func run() throws {
        let loaded = try model.load()
        let sae = try saeOptions.load(for: loaded)
        if let f = feature, f < 0 || f >= sae.dSAE {
            throw LanternError.invalidArgument("--feature \(f) is out of range: the SAE has \(sae.dSAE) features")
        }
        let scan = try labels(loaded, sae: sae)
        let context = loaded.analysisContext(saes: [sae], scan: scan)
        let request = FeaturesRequest(prompt: try prompt.input(), top: top, maxDensity: maxDensity)
        try request.validate(against: context)
        let result = try request.run(on: context, monitor: AnalysisMonitor())
        if let html {
            let section = HTMLReport.features(tokens: result.run.tokens.map(loaded.shown), perToken: result.perToken, feature: feature,
                                              activations: feature.map(result.run.activations),
                                              // `feature --id N --html feature-N.html` beside this page (as the demo names them).
                                              link: { "feature-\($0).html" })
            try writeHTML(HTMLReport.page(title: "SAE features", subtitle: "\(sae.source) at \(sae.hookName) · d_sae \(sae.dSAE)",
                                          sections: [section]), to: html)
        }
        if json { return try printJSON(result) }
        print("SAE \(sae.source) at \(sae.hookName): d_in \(sae.dIn), d_sae \(sae.dSAE), \(sae.config.activation)")
        print("pos  token        L0  ‖x−x̂‖/‖x‖  top features (activation)")
        for t in result.tokens {
            let list = t.features.map { String(format: "%d (%.2f)", $0.feature, $0.activation) }.joined(separator: ", ")
            print(String(format: "%3d  ", t.position) + fit(loaded.shown(Int32(t.id)), 12) + String(format: " %3d  %9.3f  ", t.l0, t.relativeError) + list)
        }
        guard let scan, let last = result.tokens.last else { return }
        if !result.denseLeftOut.isEmpty { print("left out: \(result.denseLeftOut.count) features firing on more than \(maxDensity) of \(scan.tokens) scanned tokens") }
        print("the features on \(loaded.shown(Int32(last.id))), labelled by the tokens they fire on most over \(scan.tokens) corpus tokens:")
        for f in last.features {
            print(String(format: "  %5d  density %6.3f%%  ", f.feature, (f.density ?? 0) * 100) + (f.label ?? ""))
        }
    }

    /// Scans the corpus when labels or a density cut are asked for.
    func labels(_ loaded: LanternModel, sae: SAE) throws -> FeatureScan? {
        guard labelTokens > 0 || maxDensity < 1 else { return nil }
        let size = ScanSize(tokens: labelTokens > 0 ? labelTokens : 4096, context: min(128, loaded.config.contextLength), examples: 8)
        return try JobOutput.run { try size.scanFeatures(of: sae, loaded, corpus: corpus.source, monitor: $0, $1) }
    }
}
