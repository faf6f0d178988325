import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern transcoder eval`: how well a set of MLP transcoders stands in for the MLPs.
struct TranscoderEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "FVU of each MLP's output, and next-token CE with every MLP (and, with --each, each one) replaced.",
        discussion: """
            --transcoders are Gemma Scope 2 transcoder folders, or folders holding them (as `transcoder \
            train` writes). The CE-loss score is (CE_zero − CE_replaced) / (CE_zero − CE_clean), zero \
            meaning the MLP output set to 0. BOS positions are neither replaced nor counted. Default \
            text: the default corpus's held-out documents (not in training).
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp(TranscoderEvalRequest.transcoders))
    var transcoders: [String]

    @Option(name: .long, help: ArgumentHelp(TranscoderEvalRequest.tokens))
    var tokens = 4096

    @Option(name: .long, help: ArgumentHelp(TranscoderEvalRequest.context))
    var context = 128

    @Flag(name: .long, help: ArgumentHelp(TranscoderEvalRequest.each))
    var each = false

    @Flag(name: .long, help: "Print the figures as one JSON object.")
    var json = false

    var request: TranscoderEvalRequest {
        TranscoderEvalRequest(model: model.job, corpus: corpus.source, transcoders: transcoders, tokens: tokens, context: context, each: each)
    }

    func validate() throws { try JobOutput.validate(request) }

    func run() throws {
        let r = try JobOutput.run(request)
        if json { return try printJSON(r) }
        print(String(format: "%d tokens (%d contexts of %d); CE clean %.3f, all MLPs replaced %.3f, all zeroed %.3f → CE-loss score %.3f, loss increase %+.3f nats (%+.1f%% of clean)",
                     r.tokens, r.contexts, r.context, r.ceClean, r.ceAllReplaced, r.ceAllZero, r.ceLossScoreAll, r.ceLossIncreaseAll,
                     r.ceLossIncreasePercentAll))
        print("layer  width     FVU     L0   dead" + (each ? "   CE repl.  CE zero  score  increase" : ""))
        for m in r.layers {
            var line = String(format: "%5d  %5d  %6.3f  %5.1f  %5d", m.layer, m.width, m.fvu, m.l0, m.dead)
            if let replaced = m.ceReplaced, let zero = m.ceZero, let score = m.ceLossScore, let increase = m.ceLossIncrease {
                line += String(format: "   %8.3f  %7.3f  %5.3f  %+8.3f", replaced, zero, score, increase)
            }
            print(line)
        }
    }
}
