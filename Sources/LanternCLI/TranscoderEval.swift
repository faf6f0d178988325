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

    @Option(name: .long, parsing: .upToNextOption, help: "Transcoder folders, or folders of them.")
    var transcoders: [String]

    @Option(name: .long, help: "Tokens to evaluate (in contexts of --context).")
    var tokens = 4096

    @Option(name: .long, help: "Tokens per context, BOS included.")
    var context = 128

    @Flag(name: .long, help: "Also replace (and zero) each layer alone: two more forward passes per layer.")
    var each = false

    @Flag(name: .long, help: "Print the figures as one JSON object.")
    var json = false

    func validate() throws {
        try OptionCheck.integer(tokens, "--tokens", 1...OptionCheck.maxCount)
        try OptionCheck.integer(context, "--context", 2...1 << 20)
        if transcoders.isEmpty { throw ValidationError("give --transcoders FOLDER ... (transcoder folders, or folders holding them)") }
        if tokens < 1 { throw ValidationError("--tokens must be at least 1, not \(tokens)") }
        if context < 2 { throw ValidationError("--context must be at least 2, not \(context)") }
    }

    func run() throws {
        let loaded = try model.load(manyPasses: true)
        let folders = try transcoders.flatMap(TranscoderFolders.folders)
        let set = try folders.map { try GemmaScope2.loadTranscoder(directory: $0, backend: loaded.backend) }
        let evaluator = try TranscoderEvaluator(model: loaded.transformer, transcoders: set, each: each)
        let files = corpus.corpus.isEmpty ? try DefaultCorpus.heldOut(notice: { note($0) }) : corpus.corpus
        let packer = try corpus.packer(for: loaded, length: context, files: files)
        let contexts = (tokens + context - 2) / (context - 1)
        let bar = Progress(total: contexts, label: "transcoder eval")
        var done = 0
        try packer.forEachContext { _, ids in
            try evaluator.evaluate(ids)
            done += 1
            bar.update(done, detail: "\(done * (context - 1)) tokens")
            return done < contexts
        }
        bar.finish()
        guard done > 0 else { throw ValidationError("the corpus gave no context of \(context) tokens") }
        let r = evaluator.report
        guard r.tokens > 0 else { throw LanternError.invalidArgument("transcoder eval: no tokens were evaluated") }
        if json { return print(try jsonString(Self.json(r))) }
        print(String(format: "%d tokens (%d contexts of %d); CE clean %.3f, all MLPs replaced %.3f, all zeroed %.3f → CE-loss score %.3f",
                     r.tokens, done, context, r.ceClean, r.ceAllReplaced, r.ceAllZero, r.ceScoreAll))
        print("layer  width     FVU     L0   dead" + (each ? "   CE repl.  CE zero  score" : ""))
        for m in r.layers {
            var line = String(format: "%5d  %5d  %6.3f  %5.1f  %5d", m.layer, m.width, m.fvu, m.l0, m.deadFeatures)
            if let replaced = m.ceReplaced, let zero = m.ceZero, let score = m.ceScore(clean: r.ceClean) {
                line += String(format: "   %8.3f  %7.3f  %5.3f", replaced, zero, score)
            }
            print(line)
        }
    }

    static func json(_ r: TranscoderReport) -> [String: Any] {
        ["tokens": r.tokens, "ce_clean": r.ceClean, "ce_all_replaced": r.ceAllReplaced, "ce_all_zero": r.ceAllZero,
         "ce_loss_score_all": r.ceScoreAll,
         "layers": r.layers.map { m -> [String: Any] in
             var o: [String: Any] = ["layer": m.layer, "width": m.width, "fvu": m.fvu, "l0": m.l0, "dead": m.deadFeatures]
             if let replaced = m.ceReplaced, let zero = m.ceZero {
                 o["ce_replaced"] = replaced
                 o["ce_zero"] = zero
                 o["ce_loss_score"] = m.ceScore(clean: r.ceClean)
             }
             return o
         }]
    }

}
