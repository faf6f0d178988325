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

/// `lantern features top`: features ranked over a corpus, optionally with their pages.
struct FeaturesTop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Rank SAE features over a corpus (by density, max or mean activation); optionally write their dashboards.")

    @OptionGroup var scanOptions: FeatureScanOptions

    @Option(name: .long, help: "Order: density (fraction of tokens fired on), max (largest activation), mean (mean when firing).")
    var by: String = "density"

    @Option(name: .long, help: "How many features to list.")
    var count = 20

    @Option(name: .long, help: "Leave out features firing on more than this fraction of the scanned tokens (dense features), e.g. 0.1.")
    var maxDensity = 1.0

    @Option(name: .long, help: "Write one HTML page per listed feature and an index.html into this directory.")
    var htmlDir: String?

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    func validate() throws {
        try OptionCheck.integer(count, "--count", 1...1_000_000)
        try OptionCheck.number(maxDensity, "--max-density", 0...1, above: true)
        guard FeatureRanking(rawValue: by) != nil else { throw ValidationError("--by must be density, max or mean, got '\(by)'") }
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard maxDensity > 0, maxDensity <= 1 else { throw ValidationError("--max-density must be in (0, 1], got \(maxDensity)") }
    }

    func run() throws {
        let (loaded, sae, scan) = try scanOptions.scan()
        let ranked = scan.ranked(by: FeatureRanking(rawValue: by)!, count: count, maxDensity: maxDensity)
        let dashboards = try ranked.map { try FeatureDashboard(feature: $0.feature, scan: scan, sae: sae, model: loaded.transformer, logitCount: 5) }
        func maxTokens(_ d: FeatureDashboard) -> [String] {
            var seen: [String] = []
            for e in d.examples where !seen.contains(loaded.shown(e.tokens[e.maxIndex])) { seen.append(loaded.shown(e.tokens[e.maxIndex])) }
            return Array(seen.prefix(5))
        }
        if let htmlDir {
            try FileManager.default.createDirectory(atPath: htmlDir, withIntermediateDirectories: true)
            for d in dashboards {
                try writeHTML(d.page(loaded, sae: sae, index: "index.html"), to: (htmlDir as NSString).appendingPathComponent("feature-\(d.feature).html"))
            }
            let rows = dashboards.map { d in
                (summary: d.summary, link: "feature-\(d.feature).html",
                 top: [maxTokens(d), d.logits.positive.map { loaded.shown($0.token) }])
            }
            let index = HTMLReport.page(title: "SAE features by \(by)",
                                        subtitle: "\(sae.source) at \(sae.hookName) · \(scan.tokens) tokens · d_sae \(sae.dSAE)",
                                        sections: [HTMLReport.featureIndex(rows, ranking: by)])
            try writeHTML(index, to: (htmlDir as NSString).appendingPathComponent("index.html"))
        }
        if json {
            print(try jsonString(["sae": sae.source, "hook": sae.hookName, "tokens": scan.tokens, "by": by,
                                  "features": dashboards.map { $0.json(loaded) }]))
            return
        }
        let dense = scan.ranked(by: .density, count: sae.dSAE).filter { $0.density > maxDensity }.count
        print("SAE \(sae.source) at \(sae.hookName): \(scan.tokens) tokens scanned, \(scan.ranked(by: .density, count: sae.dSAE).count) of \(sae.dSAE) features fired"
              + (maxDensity < 1 ? ", \(dense) denser than \(maxDensity) left out" : ""))
        print("feature   density     max    mean  top activating tokens → promoted tokens")
        for d in dashboards {
            let s = d.summary
            print(String(format: "%7d  %7.3f%%  %6.2f  %6.2f  ", s.feature, s.density * 100, Double(s.maxActivation), s.meanActivation)
                  + maxTokens(d).joined(separator: " ") + " → " + d.logits.positive.map { loaded.shown($0.token) }.joined(separator: " "))
        }
    }
}
