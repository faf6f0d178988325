import Analyses
import ArgumentParser
import Foundation

/// `lantern sae probe`: SAEBench's k-sparse probing on a labelled corpus (`SAEProbeRequest`).
struct SAEProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: SAEProbeRequest.summary,
        discussion: """
            For each class of the corpus (the JSON Lines field --label; the default corpus's sources), a balanced \
            one-vs-rest task: the class's contexts against as many from the others. A probe (L2 logistic \
            regression, C = 1, as scikit-learn fits it) reads the k SAE latents whose means differ most between \
            the two sides on the training contexts; its test accuracy is reported per class and averaged, beside \
            probes on k model dimensions and on all of them. Contexts are averaged over their positions (BOS left \
            out); train and test contexts come from different documents.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .customLong("sae"), help: "An SAE folder to probe (repeat for more; all read the same hook).")
    var saes: [String] = []

    @Option(name: .long, help: ArgumentHelp(SAEProbeRequest.hook))
    var hook: String?

    @Option(name: .long, help: ArgumentHelp(SAEProbeRequest.label))
    var label = "source"

    @Option(name: .long, help: ArgumentHelp(SAEProbeRequest.train))
    var train = 200

    @Option(name: .long, help: ArgumentHelp(SAEProbeRequest.test))
    var test = 80

    @Option(name: .long, help: ArgumentHelp(SAEProbeRequest.context))
    var context = 128

    @Option(name: .customLong("k"), parsing: .upToNextOption, help: "Probe sizes (default: 1 2 5).")
    var ks: [Int] = [1, 2, 5]

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    var request: SAEProbeRequest {
        SAEProbeRequest(model: model.job, corpus: corpus.source, saes: saes, hook: hook, label: label, train: train, test: test,
                        context: context, ks: ks)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws {
        let r = try JobOutput.run(request)
        if json { return try printJSON(r) }
        print("\(r.hook), classes by '\(r.label)': \(r.classes.joined(separator: ", ")); \(r.train) training and \(r.test) test contexts of \(r.context) tokens per class")
        let header = "probe".padding(toLength: 34, withPad: " ", startingAt: 0) + r.classes.map { fit($0, 14) }.joined(separator: " ") + "  mean"
        print(header)
        func row(_ name: String, _ accuracy: [Double]) {
            print(name.padding(toLength: 34, withPad: " ", startingAt: 0) + accuracy.map { String(format: "%14.3f", $0) }.joined(separator: " ")
                  + String(format: "  %.3f", accuracy.reduce(0, +) / Double(max(accuracy.count, 1))))
        }
        row("model, all dimensions", r.model.all)
        for p in r.model.topK { row("model, top \(p.k) dimensions", p.accuracy) }
        for s in r.saes { for p in s.topK { row("\((s.sae as NSString).lastPathComponent), top \(p.k)", p.accuracy) } }
    }
}
