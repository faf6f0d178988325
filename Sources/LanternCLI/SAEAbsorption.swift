import Analyses
import ArgumentParser
import Foundation

/// `lantern sae absorption`: SAEBench's feature absorption on the first-letter task (`SAEAbsorptionRequest`).
struct SAEAbsorption: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "absorption",
        abstract: SAEAbsorptionRequest.summary,
        discussion: """
            The tokenizer's alphabetic tokens are the words (80% training, 20% test), each read at the SAE's hook \
            in a prompt of 10 examples "{word} has the first letter: X". A logistic probe per letter finds the \
            letter in the activations; k-sparse probes on the SAE's latents find each letter's main latents (k \
            grows while test F1 gains more than --f1-jump-threshold: the split features). On the test words the \
            probe finds, a word is absorbed when the main latents stay silent and other latents aligned with the \
            probe carry its projection: the mean absorption fraction and the full-absorption rate per letter, and \
            their means (SAEBench's mean_absorption_fraction_score and mean_full_absorption_score). Runs one \
            forward pass per word and per absorption prompt: --words bounds the vocabulary.
            """
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: ArgumentHelp(SAEAbsorptionRequest.sae))
    var sae: String

    @Option(name: .long, help: ArgumentHelp(SAEAbsorptionRequest.words))
    var words: Int?

    @Option(name: .customLong("max-k"), help: ArgumentHelp(SAEAbsorptionRequest.maxK))
    var maxK = 10

    @Option(name: .customLong("f1-jump-threshold"), help: ArgumentHelp(SAEAbsorptionRequest.threshold))
    var threshold = 0.03

    @Option(name: .long, help: ArgumentHelp(SAEAbsorptionRequest.position))
    var position = -6

    @Option(name: .long, help: ArgumentHelp(SAEAbsorptionRequest.seed))
    var seed = 42

    @Option(name: .long, help: ArgumentHelp(SAEAbsorptionRequest.batch))
    var batch = 16

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    var request: SAEAbsorptionRequest {
        SAEAbsorptionRequest(model: model.job, sae: sae, words: words, maxK: maxK, threshold: threshold, position: position, seed: seed, batch: batch)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws {
        let r = try JobOutput.run(request)
        if json { return try printJSON(r) }
        func number(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "-" }
        print("\(r.hook): \(r.vocabulary) words (\(r.trainWords) training, \(r.testWords) test)")
        print(String(format: "first-letter probe: test accuracy %.4f, mean F1 %.4f, %ld letters with F1 > 0.6", r.probe.accuracy, r.probe.meanF1,
                     r.probe.lettersAboveMinF1) + (r.probe.lettersAboveMinF1 < 20 ? " (SAEBench scores only models with 20 or more)" : ""))
        print("letter  probe F1  found  split  absorption fraction  full absorption  main latents")
        for l in r.letters {
            print("\(l.letter.padding(toLength: 6, withPad: " ", startingAt: 0))  \(String(format: "%8.3f", l.probeF1))  \(String(format: "%5ld", l.probeTruePositives))  "
                  + "\(String(format: "%5ld", l.numSplitFeatures))  \(number(l.meanAbsorptionFraction).leftPadded(19))  \(number(l.fullAbsorptionRate).leftPadded(15))  "
                  + l.splitLatents.map(String.init).joined(separator: " "))
        }
        let m = r.mean
        print("mean_absorption_fraction_score \(number(m.meanAbsorptionFractionScore)) (sd \(number(m.stdDevAbsorptionFractionScore))), "
              + "mean_full_absorption_score \(number(m.meanFullAbsorptionScore)) (sd \(number(m.stdDevFullAbsorptionScore))), "
              + "mean_num_split_features \(number(m.meanNumSplitFeatures)) (sd \(number(m.stdDevNumSplitFeatures)))")
        let v = r.meanWithDecoderNorms
        print("with projections scaled by decoder norms: mean_absorption_fraction_score \(number(v.meanAbsorptionFractionScore)), "
              + "mean_full_absorption_score \(number(v.meanFullAbsorptionScore))")
    }
}
