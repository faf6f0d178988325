import Analyses
import ArgumentParser
import Foundation

/// `lantern steer sweep`: a feature's steering curve beside random directions of its norm (`SteerSweepRequest`).
struct SteerSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: SteerSweepRequest.summary,
        discussion: """
            Each strength steers every prompt (greedy, --max-new-tokens) with the feature (add mode) and with --random \
            Gaussian directions scaled to the feature's decoder norm. Promoted mass: the mean next-token probability of \
            the feature's --promoted tokens over the prompt and its unsteered continuation, steered. Log-likelihood: the \
            steered continuation's mean log-probability per token under the unsteered model (fluency).
            """
    )

    @OptionGroup var model: ModelOptions
    @Option(name: .long, help: ArgumentHelp(SteerSweepRequest.sae))
    var sae: String
    @Option(name: .long, help: ArgumentHelp(SteerSweepRequest.feature))
    var feature: Int
    @Option(name: .long, help: ArgumentHelp(SteerSweepRequest.strengths.help + " Comma-separated."))
    var strengths = "0,10,20,40,70,120"
    @Option(name: .customLong("prompt"), help: "A prompt (repeat for several).")
    var prompts: [String]
    @Flag(name: .long, help: ArgumentHelp(JobFields.byteTokens))
    var byteTokens = false
    @Option(name: .long, help: ArgumentHelp(SteerSweepRequest.maxNewTokens))
    var maxNewTokens = 16
    @Option(name: .long, help: ArgumentHelp(SteerSweepRequest.random))
    var random = 3
    @Option(name: .long, help: ArgumentHelp(SteerSweepRequest.seed))
    var seed = 0
    @Option(name: .long, help: ArgumentHelp(SteerSweepRequest.promoted))
    var promoted = 10
    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false
    @Option(name: .long, help: "Also draw the curve (promoted mass and log-likelihood against strength, beside the random directions) as an SVG file.")
    var svg: String?

    var request: SteerSweepRequest {
        get throws {
            let values = try strengths.split(separator: ",").map { part -> Double in
                guard let v = Double(part.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                    throw ValidationError("--strengths: '\(part)' is not a number (give e.g. 0,20,70)")
                }
                return v
            }
            var request = SteerSweepRequest(model: model.job, sae: sae, feature: feature, strengths: values, prompts: prompts,
                                            maxNewTokens: maxNewTokens, random: random, seed: seed, promoted: promoted)
            request.byteTokens = byteTokens
            return request
        }
    }

    func validate() throws { try JobOutput.validate(try request) }

    func run() throws {
        let r = try JobOutput.run(try request)
        if let svg { try writeHTML(r.svg, to: svg) }
        if json { return try printJSON(r) }
        print("feature \(r.feature) at \(r.hook) (decoder norm \(String(format: "%.3f", r.directionNorm))); promoted: \(r.promotedText.joined(separator: " "))")
        print(String(format: "unsteered continuations: log-likelihood %.3f per token", r.baselineLogLikelihood))
        print("strength   promoted mass   random (\(r.random))   log-likelihood   random")
        for row in r.rows {
            let random = row.promotedMassRandom.map { String(format: "%11.4f", $0) } ?? "          –"
            let fluency = row.logLikelihoodRandom.map { String(format: "%9.3f", $0) } ?? "        –"
            print(String(format: "%8.1f   %13.4f   ", row.strength, row.promotedMass) + random
                  + String(format: "   %14.3f   ", row.logLikelihood) + fluency)
        }
    }
}
