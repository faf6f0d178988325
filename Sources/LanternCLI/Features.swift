import ArgumentParser
import Foundation
import Lantern

/// `lantern features`: a group whose default subcommand (`show`) is the per-token view, so
/// `lantern features --sae S --prompt P` works as before; `features top` surveys a corpus.
struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "SAE features: per token of a prompt (the default, `show`), or ranked over a corpus (`top`).",
        subcommands: [FeaturesShow.self, FeaturesTop.self], defaultSubcommand: FeaturesShow.self)
}

/// `lantern features [show]`: which SAE features fire on which token.
struct FeaturesShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show the SAE features that fire on each token, with L0 and reconstruction error.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var saeOptions: SAEOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: "How many features to list per token.")
    var top = 5

    @Option(name: .long, help: "Shade tokens in the HTML page by this feature (default: by L0).")
    var feature: Int?

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page to this file.")
    var html: String?

    func run() throws {
        let loaded = try model.load()
        let sae = try saeOptions.load(for: loaded)
        let ids = try prompt.ids(for: loaded)
        let run = try sae.run(on: loaded.transformer, tokens: ids)
        let perToken = run.features(top: top)
        if let f = feature, f < 0 || f >= sae.dSAE {
            throw LanternError.invalidArgument("feature \(f) is out of range: the SAE has \(sae.dSAE) features")
        }
        if let html {
            let section = HTMLReport.features(tokens: ids.map(loaded.shown), perToken: perToken, feature: feature,
                                              activations: feature.map(run.activations))
            try writeHTML(HTMLReport.page(title: "SAE features", subtitle: "\(sae.source) at \(sae.hookName) · d_sae \(sae.dSAE)",
                                          sections: [section]), to: html)
        }
        if json {
            print(try jsonString([
                "sae": sae.source, "hook": sae.hookName, "d_sae": sae.dSAE,
                "tokens": perToken.map { t -> [String: Any] in
                    ["position": t.position, "id": Int(t.token), "text": loaded.display(t.token), "l0": t.l0,
                     "relative_error": Double(t.relativeError),
                     "features": t.top.map { ["feature": $0.feature, "activation": Double($0.activation)] }]
                },
            ]))
            return
        }
        print("SAE \(sae.source) at \(sae.hookName): d_in \(sae.dIn), d_sae \(sae.dSAE), \(sae.config.activation)")
        print("pos  token        L0  ‖x−x̂‖/‖x‖  top features (activation)")
        for t in perToken {
            let list = t.top.map { String(format: "%d (%.2f)", $0.feature, Double($0.activation)) }.joined(separator: ", ")
            print(String(format: "%3d  ", t.position) + fit(loaded.shown(t.token), 12) + String(format: " %3d  %9.3f  ", t.l0, Double(t.relativeError)) + list)
        }
    }
}
