import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern neuron`: one MLP neuron's dashboard over a corpus, with the polysemanticity view.
struct NeuronCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neuron",
        abstract: "One MLP neuron's dashboard over a corpus: top contexts, density, histogram, logit effects; with --sae its top contexts grouped by SAE feature.")

    @OptionGroup var scanOptions: NeuronScanOptions

    @Option(name: .long, help: "The neuron (a column of blocks.LAYER.mlp.hook_post).")
    var id: Int

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page to this file.")
    var html: String?

    func validate() throws {
        try OptionCheck.field(id, NeuronDashboardRequest.neuron)
    }

    func run() throws {
        let r = try scanOptions.scan(checking: id)
        let context = r.loaded.analysisContext()
        let request = NeuronDashboardRequest(layer: r.neurons.layer, neuron: id)
        try request.validate(against: context)
        let result = try request.run(on: context, units: r.neurons, scan: ScanSource(scan: r.scan, source: "corpus scan"))
        let dashboard = result.value
        let poly = try r.polysemanticity(id, maxDensity: scanOptions.maxDensity)
        let notes = try poly.map(r.notes) ?? [:]
        if let html {
            let more = poly.map { [HTMLReport.polysemanticity($0, examples: dashboard.examples, notes: notes, sae: r.companion!.sae.source,
                                                              maxDensity: scanOptions.maxDensity, display: r.loaded.display)] } ?? []
            try writeHTML(dashboard.page(r.loaded, title: "Neuron \(r.neurons.layer).\(id)", subtitle: r.description, more: more), to: html)
        }
        if json {
            var result = result
            if let poly, let c = r.companion {
                result.sae = c.sae.source
                result.polysemanticity = PolysemanticityJSON(poly, notes: notes, model: r.loaded)
            }
            try printJSON(result)
        } else {
            print(r.description)
            print(dashboard.text(r.loaded), terminator: "")
            if let poly { print(poly.text(r.loaded, examples: dashboard.examples, notes: notes, maxDensity: scanOptions.maxDensity), terminator: "") }
        }
    }
}

/// `lantern neurons`: MLP neurons surveyed over a corpus (`top`).
struct Neurons: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "MLP neurons ranked over a corpus.", subcommands: [NeuronsTop.self], defaultSubcommand: NeuronsTop.self)
}

/// `lantern neurons top`: one layer's neurons ranked (`NeuronsTopRequest`), optionally with their pages.
struct NeuronsTop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Rank one layer's MLP neurons over a corpus (by density, max, mean, or polysemantic with --sae); optionally write their dashboards.")

    @OptionGroup var scanOptions: NeuronScanOptions

    @Option(name: [.long, .customLong("sort")], help: ArgumentHelp(NeuronsTopRequest.by))
    var by: String = "density"

    @Option(name: .long, help: ArgumentHelp(NeuronsTopRequest.count))
    var count = 20

    @Option(name: .long, help: "Write one HTML page per listed neuron and an index.html into this directory.")
    var htmlDir: String?

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    var request: NeuronsTopRequest {
        let o = scanOptions
        return NeuronsTopRequest(model: o.model.job, corpus: o.corpus.source, layer: o.layer, sae: o.sae, maxDensity: o.maxDensity,
                                 size: o.size.values, by: by, count: count)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws {
        let result = try JobOutput.run(request)
        let r = result.scan, maxDensity = scanOptions.maxDensity
        func scores(_ p: Polysemanticity?) -> [String] {
            p.map { [String(format: "%.2f", $0.unrelatedness?.unrelatedFeatures ?? .nan), String(format: "%.2f", $0.effectiveFeatures),
                     Polysemanticity.figure($0.unrelatedness?.meanAbsCosine), Polysemanticity.figure($0.unrelatedness?.meanPromotedOverlap),
                     String(format: "%.0f%%", $0.coverage * 100), "\($0.distinctFeatures)"] } ?? []
        }
        if let htmlDir {
            try FileManager.default.createDirectory(atPath: htmlDir, withIntermediateDirectories: true)
            for (d, p) in zip(result.dashboards, result.groupings) {
                let more = try p.map { [HTMLReport.polysemanticity($0, examples: d.examples, notes: try r.notes($0), sae: r.companion!.sae.source,
                                                                   maxDensity: maxDensity, display: r.loaded.display)] } ?? []
                try writeHTML(d.page(r.loaded, title: "Neuron \(r.neurons.layer).\(d.feature)", subtitle: r.description, index: "index.html", more: more),
                              to: (htmlDir as NSString).appendingPathComponent("neuron-\(d.feature).html"))
            }
            let rows = result.dashboards.map { d in
                (summary: d.summary, link: "neuron-\(d.feature).html", top: [d.maxTokens(r.loaded), d.logits.positive.map { r.loaded.shown($0.token) }])
            }
            let index = HTMLReport.page(title: "Neurons of layer \(r.neurons.layer) by \(by)", subtitle: r.description,
                                        sections: [HTMLReport.featureIndex(rows, ranking: by, unitName: "neuron",
                                                                           extraHeaders: r.companion == nil ? [] : ["unrelated SAE features", "effective SAE features", "mean |cos|",
                                                                                                                  "promoted overlap", "coverage", "shared features"],
                                                                           extra: result.groupings.map(scores))])
            try writeHTML(index, to: (htmlDir as NSString).appendingPathComponent("index.html"))
        }
        if json { return try printJSON(result) }
        print(r.description)
        print("neuron   density     max    mean" + (r.companion == nil ? "" : "  unrel.  eff.SAE  |cos|  overlap  cover  shared")
              + "  top activating tokens → promoted tokens")
        for (d, p) in zip(result.dashboards, result.groupings) {
            let s = d.summary
            var line = String(format: "%6d  %7.3f%%  %6.2f  %6.2f  ", s.feature, s.density * 100, Double(s.maxActivation), s.meanActivation)
            if let p {
                line += String(format: "%6.2f  %7.2f  ", p.unrelatedness?.unrelatedFeatures ?? .nan, p.effectiveFeatures)
                line += Polysemanticity.figure(p.unrelatedness?.meanAbsCosine).leftPadded(5) + "  "
                    + Polysemanticity.figure(p.unrelatedness?.meanPromotedOverlap).leftPadded(7)
                line += String(format: "  %4.0f%%  %6d  ", p.coverage * 100, p.distinctFeatures)
            }
            print(line + d.maxTokens(r.loaded).joined(separator: " ") + " → " + d.logits.positive.map { r.loaded.shown($0.token) }.joined(separator: " "))
        }
    }
}
