import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern feature`: one feature's dashboard over a corpus.
struct FeatureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feature",
        abstract: "One SAE feature's dashboard over a corpus: top contexts, density, histogram, logit effects.")

    @OptionGroup var scanOptions: FeatureScanOptions

    @Option(name: .long, help: "The feature.")
    var id: Int

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page to this file.")
    var html: String?

    func validate() throws {
        try OptionCheck.field(id, FeatureDashboardRequest.feature)
    }

    func run() throws {
        let (loaded, sae, scan) = try scanOptions.scan()
        let context = loaded.analysisContext(saes: [sae], scan: scan)
        let request = FeatureDashboardRequest(feature: id)
        try request.validate(against: context)
        let result = try request.run(on: context, monitor: AnalysisMonitor())
        let dashboard = result.value
        if let html { try writeHTML(dashboard.page(loaded, sae: sae), to: html) }
        if json {
            try printJSON(result)
        } else {
            print("SAE \(sae.source) at \(sae.hookName), \(scan.tokens) tokens scanned (BOS left out)")
            print(dashboard.text(loaded), terminator: "")
        }
    }
}

/// `lantern features top`: features ranked over a corpus (`FeaturesTopRequest`), optionally with their pages.
struct FeaturesTop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Rank SAE features over a corpus (by density, max or mean activation); optionally write their dashboards.")

    @OptionGroup var scanOptions: FeatureScanOptions

    @Option(name: .long, help: ArgumentHelp(FeaturesTopRequest.by))
    var by: String = "density"

    @Option(name: .long, help: ArgumentHelp(FeaturesTopRequest.count))
    var count = 20

    @Option(name: .long, help: ArgumentHelp(FeaturesTopRequest.maxDensity))
    var maxDensity = 1.0

    @Option(name: .long, help: "Write one HTML page per listed feature and an index.html into this directory.")
    var htmlDir: String?

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    var request: FeaturesTopRequest {
        let o = scanOptions
        return FeaturesTopRequest(model: o.model.job, corpus: o.corpus.source, sae: o.saeOptions.sae, hook: o.saeOptions.hook, size: o.size.values,
                                  by: by, count: count, maxDensity: maxDensity)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws {
        let r = try JobOutput.run(request)
        let loaded = r.model, sae = r.loadedSAE
        if let htmlDir {
            try FileManager.default.createDirectory(atPath: htmlDir, withIntermediateDirectories: true)
            for d in r.dashboards {
                try writeHTML(d.page(loaded, sae: sae, index: "index.html"), to: (htmlDir as NSString).appendingPathComponent("feature-\(d.feature).html"))
            }
            let rows = r.dashboards.map { d in
                (summary: d.summary, link: "feature-\(d.feature).html", top: [d.maxTokens(loaded), d.logits.positive.map { loaded.shown($0.token) }])
            }
            let index = HTMLReport.page(title: "SAE features by \(by)",
                                        subtitle: "\(sae.source) at \(sae.hookName) · \(r.tokens) tokens · d_sae \(sae.dSAE)",
                                        sections: [HTMLReport.featureIndex(rows, ranking: by)])
            try writeHTML(index, to: (htmlDir as NSString).appendingPathComponent("index.html"))
        }
        if json { return try printJSON(r) }
        print("SAE \(sae.source) at \(sae.hookName): \(r.tokens) tokens scanned, \(r.fired) of \(sae.dSAE) features fired"
              + (maxDensity < 1 ? ", \(r.denseLeftOut) denser than \(maxDensity) left out" : ""))
        print("feature   density     max    mean  top activating tokens → promoted tokens")
        for d in r.dashboards {
            let s = d.summary
            print(String(format: "%7d  %7.3f%%  %6.2f  %6.2f  ", s.feature, s.density * 100, Double(s.maxActivation), s.meanActivation)
                  + d.maxTokens(loaded).joined(separator: " ") + " → " + d.logits.positive.map { loaded.shown($0.token) }.joined(separator: " "))
        }
    }
}

extension FeatureDashboard {
    /// The tokens at the top contexts' maxima, distinct, strongest first (at most 5).
    func maxTokens(_ loaded: LanternModel) -> [String] {
        var seen: [String] = []
        for e in examples where !seen.contains(loaded.shown(e.tokens[e.maxIndex])) { seen.append(loaded.shown(e.tokens[e.maxIndex])) }
        return Array(seen.prefix(5))
    }
}

/// `lantern features search`: features by the text they fire on in their top contexts (`FeatureSearchRequest`).
struct FeaturesSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find SAE features by the text they fire on in their top contexts over a corpus, ranked, with density and maximum.")

    @OptionGroup var scanOptions: FeatureScanOptions

    @Option(name: .long, help: ArgumentHelp(FeatureSearchRequest.query))
    var query: String

    @Option(name: .long, help: ArgumentHelp(FeatureSearchRequest.top))
    var top = 20

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    func validate() throws {
        try OptionCheck.field(top, FeatureSearchRequest.top)
    }

    func run() throws {
        let (loaded, sae, scan) = try scanOptions.scan()
        let context = loaded.analysisContext(saes: [sae], scan: scan)
        let request = FeatureSearchRequest(query: query, top: top)
        try request.validate(against: context)
        let result = try request.run(on: context, monitor: AnalysisMonitor())
        if json { return try printJSON(result) }
        print("SAE \(sae.source) at \(sae.hookName): \(scan.tokens) tokens scanned, \(result.matched) features fire on \(query.debugDescription) in their top contexts")
        print("feature    score   density     max  strongest context")
        for r in result.results {
            print(String(format: "%7d  %7.2f  %7.3f%%  %6.2f  ", r.feature, r.score, r.density * 100, r.maxActivation)
                  + r.example.text.joined().replacingOccurrences(of: "\n", with: "⏎"))
        }
    }
}
