import Analyses
import ArgumentParser
import Foundation
import Lantern
import Training

/// `lantern sae sweep`: a family of SAEs on the same activations, and how their dark matter
/// scales with width (the seed's closing point).
struct SAESweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Train SAEs of several widths on the same activations and report how the unexplained remainder scales.",
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

    @Option(name: .long, help: "A directory `lantern harvest` wrote.")
    var activations: String

    @Option(name: .long, parsing: .upToNextOption, help: "SAE widths (latents), e.g. 640 1280 2560 5120.")
    var widths: [Int]

    @Option(name: .long, help: "TopK: active latents per token (the same for every width).")
    var k = 32

    @Option(name: .long, help: "Training tokens per SAE.")
    var tokens: Int

    @Option(name: .long, help: "Rows per step.")
    var batch = 4096

    @Option(name: .long, help: "Adam learning rate.")
    var lr: Float = 1e-3

    @Option(name: .long, help: "Input normalisation: scalar or per-dimension (see sae train).")
    var normalize = "per-dimension"

    @Option(name: .long, help: "Fraction of the rows (the last ones) held out of training for evaluation.")
    var holdout = 0.1

    @Option(name: .long, help: "Rows of the training part used to fit the linear error map.")
    var linearRows = 65536

    @Option(name: .long, parsing: .upToNextOption, help: "Text files for the CE-loss score (optional: it runs the model).")
    var corpus: [String] = []

    @Option(name: .long, help: "A latent is dense when it fires on more than this fraction of held-out rows.")
    var denseThreshold = 0.1

    @Option(name: .long, help: "Seed for every SAE.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Output directory (one SAELens folder per width).")
    var out: String

    @Flag(name: .long, help: "Print the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML page (log-log plot) to this file.")
    var html: String?

    func validate() throws {
        try OptionCheck.integers(widths, "--widths", 1...1 << 24)
        try OptionCheck.integer(k, "--k", 1...1 << 24)
        try OptionCheck.integer(tokens, "--tokens", 1...OptionCheck.maxCount)
        try OptionCheck.integer(batch, "--batch", 1...1 << 20)
        try OptionCheck.number(lr, "--lr", 0...10, above: true)
        try OptionCheck.integer(linearRows, "--linear-rows", 1...OptionCheck.maxCount)
        try OptionCheck.number(denseThreshold, "--dense-threshold", 0...1, above: true)
        guard !widths.isEmpty, widths.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--widths needs one or more positive widths") }
        guard Set(widths).count == widths.count else { throw ValidationError("--widths has a width twice") }
        guard holdout > 0, holdout < 1 else { throw ValidationError("--holdout must be in (0, 1), not \(holdout)") }
        guard k >= 1, widths.allSatisfy({ k <= $0 }) else { throw ValidationError("--k must be in 1...the smallest width") }
        guard tokens >= 1, batch >= 1, linearRows >= 1 else { throw ValidationError("--tokens, --batch and --linear-rows must be positive") }
        guard InputNormalization(rawValue: normalize) != nil else { throw ValidationError("--normalize must be scalar, per-dimension or per-dimension-sqrt") }
    }

    func run() throws {
        let source = try HarvestedActivations(directory: activations)
        let held = Int(Double(source.rowCount) * holdout)
        let trainRows = source.rowCount - held
        guard held >= 1, trainRows >= batch else {
            throw ValidationError("\(activations) has \(source.rowCount) rows: too few to hold out \(holdout) and train with batches of \(batch)")
        }
        let backend = try model.makeBackend(manyPasses: true)
        let loaded = corpus.isEmpty ? nil : try model.load(manyPasses: true)
        let texts = try loaded.map { try SAEEvalRequest.documents(corpus, for: $0) } ?? []
        if loaded != nil, !texts.contains(where: { $0.count >= 2 }) {
            // A CE-loss score over no predicted token is 0/0: refused before any training.
            throw ValidationError("--corpus \(corpus.joined(separator: " ")): no document has the 2 tokens a next-token loss needs")
        }
        var results: [SweepResult] = []
        for width in widths.sorted() {
            let folder = (out as NSString).appendingPathComponent("width-\(width)")
            try train(width: width, folder: folder, trainRows: trainRows)
            let sae = try SAE.load(path: folder, backend: loaded?.backend ?? backend)
            var result = try evaluate(sae, source: source, trainRows: trainRows)
            if let loaded {
                let evaluator = try SAEEvaluator(model: loaded.transformer, sae: sae, denseThreshold: denseThreshold)
                for text in texts { try evaluator.evaluate(text) }
                result.ceLossScore = evaluator.overall.ceScore
                result.ceDelta = evaluator.overall.ceSAE - evaluator.overall.ceClean
            }
            note(result.line)
            results.append(result)
        }
        let fit = ScalingFit.fit(widths: results.map { Double($0.width) }, fvu: results.map(\.fvu))
        try report(results, fit: fit, rows: (trainRows, held))
    }

    /// Trains (or finishes, or keeps) one SAE as `sae train` does.
    func train(width: Int, folder: String, trainRows: Int) throws {
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("sae_weights.safetensors")) {
            note("width \(width): kept \(folder)")
            return
        }
        let resume = try TrainingRun.fileExists((folder as NSString).appendingPathComponent("checkpoint.safetensors"))
        let request = SAETrainRequest(
            model: JobModel(model: model.model, backend: model.backend),
            training: DictionaryTraining(width: width, k: k, tokens: tokens, rows: trainRows, lr: lr, batch: batch, seed: seed, normalize: normalize),
            hook: try HarvestedActivations(directory: activations).hook, activations: activations, out: folder, resume: resume)
        try JobOutput.validate(request)
        try JobOutput.run(request)
    }

    func evaluate(_ sae: SAE, source: HarvestedActivations, trainRows: Int) throws -> SweepResult {
        let b = sae.backend, d = sae.dIn, chunk = 4096
        var stats = SAERowStatistics(dIn: d, dSAE: sae.dSAE)
        let fitRows = min(linearRows, trainRows)
        var linear = LinearErrorPrediction(width: d, sample: try source.rows(Array(0..<min(fitRows, chunk))))
        func error(_ x: [Float]) throws -> [Float] {
            let xh = try b.read(try sae.decode(try sae.encode(try b.matrix(x, rows: x.count / d, cols: d))))
            return zip(x, xh).map { $0 - $1 }
        }
        for start in stride(from: 0, to: fitRows, by: chunk) {
            let x = try source.rows(Array(start..<min(fitRows, start + chunk)))
            try linear.fit(x: x, error: try error(x), backend: b)
        }
        for start in stride(from: trainRows, to: source.rowCount, by: chunk) {
            let x = try source.rows(Array(start..<min(source.rowCount, start + chunk)))
            try stats.add(x, sae: sae)
            try linear.score(x: x, error: try error(x), backend: b)
        }
        return SweepResult(width: sae.dSAE, l0: stats.l0, fvu: 1 - stats.explainedVariance,
                           linearShare: linear.predictableFraction, dead: stats.dead, dense: stats.dense(threshold: denseThreshold))
    }

    func report(_ results: [SweepResult], fit: ScalingFit?, rows: (train: Int, held: Int)) throws {
        if let html {
            try writeHTML(HTMLReport.page(title: "How the dark matter scales",
                                          subtitle: "\(activations) · TopK k = \(k) · \(rows.held) held-out rows",
                                          sections: [SweepHTML.section(results, fit: fit)]), to: html)
        }
        if json {
            var object: [String: Any] = ["activations": activations, "k": k, "train_rows": rows.train, "heldout_rows": rows.held,
                                         "saes": results.map(\.json)]
            if let fit { object["fit"] = ["a": fit.a, "b": fit.b, "c": fit.c, "rms_log_error": fit.rmsLogError] }
            print(try jsonString(object))
            return
        }
        print("width      L0     FVU   linear part  nonlinear FVU   dead   dense   CE-loss score")
        for r in results { print(r.tableRow) }
        if let fit {
            print(String(format: "fit: FVU ≈ %.3g·width^−%.3f + %.4f (floor c = %.4f; rms log error %.3f)", fit.a, fit.b, fit.c, fit.c, fit.rmsLogError))
        } else {
            print("fit: needs three or more widths")
        }
    }
}

extension SweepResult {
    var line: String { String(format: "width %d: FVU %.4f, L0 %.1f, dead %d, dense %d", width, fvu, l0, dead, dense) }

    var tableRow: String {
        String(format: "%5d  %6.1f  %6.4f  %11.3f  %13.4f  %5d  %6d  ", width, l0, fvu, linearShare, fvu * (1 - linearShare), dead, dense)
            + (ceLossScore.map { String(format: "%13.4f", $0) } ?? "            –")
    }

    var json: [String: Any] {
        var o: [String: Any] = ["width": width, "l0": l0, "fvu": fvu, "linear_share_of_error": linearShare,
                                "nonlinear_fvu": fvu * (1 - linearShare), "dead": dead, "dense": dense]
        if let ceLossScore { o["ce_loss_score"] = ceLossScore }
        if let ceDelta { o["ce_delta"] = ceDelta }
        return o
    }
}
