import Analyses
import ArgumentParser
import Foundation
import Lantern
import Training

/// `lantern sae sweep`: a family of SAEs on the same activations, and how their dark matter
/// scales with width (`SAESweepRequest`).
struct SAESweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: SAESweepRequest.summary,
        discussion: """
            Each SAE trains on the first rows of --activations (all but the --holdout fraction) into \
            OUT/width-W/ with `sae train`'s checkpoints, so an interrupted sweep continues where it stopped \
            (finished SAEs are kept). On the held-out rows: fraction of variance unexplained (FVU), L0, dead \
            and dense latents, and the share of each SAE's error that a linear map of the input predicts \
            (Engels et al. 2024). With --corpus also the CE-loss score. Fits FVU ≈ a·width^−b + c and reports \
            the floor c.
            """
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.activations))
    var activations: String

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp(SAESweepRequest.widths))
    var widths: [Int]

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.k))
    var k = 32

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.tokens))
    var tokens: Int

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.batch))
    var batch = 4096

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.lr))
    var lr: Float = 1e-3

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.normalize))
    var normalize = "per-dimension"

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.holdout))
    var holdout = 0.1

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.linearRows))
    var linearRows = 65536

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp(SAESweepRequest.corpus))
    var corpus: [String] = []

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.denseThreshold))
    var denseThreshold = 0.1

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.seed))
    var seed: UInt64 = 0

    @Option(name: .long, help: ArgumentHelp(SAESweepRequest.out))
    var out: String

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page (log-log plot) to this file.")
    var html: String?

    var request: SAESweepRequest {
        SAESweepRequest(model: model.job, activations: activations, widths: widths, k: k, tokens: tokens, batch: batch, lr: lr,
                        normalize: normalize, holdout: holdout, linearRows: linearRows, corpus: corpus, denseThreshold: denseThreshold,
                        seed: seed, out: out)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws {
        let r = try JobOutput.run(request)
        if let html {
            try writeHTML(HTMLReport.page(title: "How the dark matter scales",
                                          subtitle: "\(activations) · TopK k = \(k) · \(r.heldoutRows) held-out rows",
                                          sections: [SweepHTML.section(r.results, fit: r.fit)]), to: html)
        }
        if json { return try printJSON(r) }
        print("width      L0     FVU   linear part  nonlinear FVU   dead   dense   CE-loss score   loss increase (nats)")
        for s in r.saes {
            print(String(format: "%5d  %6.1f  %6.4f  %11.3f  %13.4f  %5d  %6d  ", s.width, s.l0, s.fvu, s.linearShareOfError, s.nonlinearFVU, s.dead, s.dense)
                  + (s.ceLossScore.map { String(format: "%13.4f", $0) } ?? "            –")
                  + (s.ceDelta.map { String(format: "   %+13.4f", $0) } ?? ""))
        }
        if let fit = r.fit {
            print(String(format: "fit: FVU ≈ %.3g·width^−%.3f + %.4f (floor c = %.4f; rms log error %.3f)", fit.a, fit.b, fit.c, fit.c, fit.rmsLogError))
        } else {
            print("fit: needs three or more widths")
        }
    }
}
