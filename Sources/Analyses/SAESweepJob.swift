import Foundation
import Lantern
import Training

/// A family of TopK SAEs of several widths on the same activations, and how their dark matter
/// scales with width (`lantern sae sweep`). Each SAE trains as `sae train` does (its checkpoints,
/// its resume) on the first rows, into OUT/width-W/; a finished one is kept, so a stopped sweep
/// continues where it stopped. On the held-out rows: FVU, L0, dead and dense latents, and the
/// share of each SAE's error a linear map of the input predicts (Engels et al. 2024); with a
/// corpus also the CE-loss score. Fits FVU ≈ a·width^−b + c.
public struct SAESweepRequest: JobRequest {
    public static let name = "sae sweep"
    public static let summary = "Train SAEs of several widths on the same activations and report how the unexplained remainder scales."
    public static let activations = JobFields.activations
    public static let widths = Field("widths", .integers, "SAE widths (latents), e.g. 640 1280 2560 5120.")
    public static let k = Field("k", .integer(1...1 << 24), default: "32", "TopK: active latents per token (the same for every width).")
    public static let tokens = Field("tokens", .integer(1...JobFields.maxCount), "Training tokens per SAE.")
    public static let batch = Field("batch", .integer(1...1 << 20), default: "4096", "Rows per step.")
    public static let lr = Field("lr", .number(0...10), default: "0.001", "Adam learning rate.")
    public static let normalize = Field("normalize", .string(choices: InputNormalization.allCases.map(\.rawValue)), default: "per-dimension",
                                        "Input normalisation: scalar or per-dimension (see sae train).")
    public static let holdout = Field("holdout", .number(0...1), default: "0.1", "Fraction of the rows (the last ones) held out of training for evaluation.")
    public static let linearRows = Field("linear_rows", .integer(1...JobFields.maxCount), default: "65536",
                                         "Rows of the training part used to fit the linear error map.")
    public static let corpus = Field("corpus", .strings, "Text files for the CE-loss score (optional: it runs the model).")
    public static let denseThreshold = Field("dense_threshold", .number(0...1), default: "0.1",
                                             "A latent is dense when it fires on more than this fraction of held-out rows.")
    public static let seed = Field("seed", .integer(0...Int.max), default: "0", "Seed for every SAE.")
    public static let out = Field("out", .string(choices: []), "Output directory (one SAELens folder per width).")
    public static let fields = JobModel.fields + [activations, widths, k, tokens, batch, lr, normalize, holdout, linearRows, corpus,
                                                  denseThreshold, seed, out]

    public var model: JobModel
    public var activations: String
    public var widths: [Int]
    public var k: Int
    public var tokens: Int
    public var batch: Int
    public var lr: Float
    public var normalize: String
    public var holdout: Double
    public var linearRows: Int
    /// Texts for the CE-loss score, read as `sae eval --corpus` reads them (none: no CE, no model).
    public var corpus: [String]
    public var denseThreshold: Double
    public var seed: UInt64
    public var out: String
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), activations: String, widths: [Int], k: Int = 32, tokens: Int, batch: Int = 4096,
                lr: Float = 1e-3, normalize: String = "per-dimension", holdout: Double = 0.1, linearRows: Int = 65536,
                corpus: [String] = [], denseThreshold: Double = 0.1, seed: UInt64 = 0, out: String) {
        self.model = model
        self.activations = activations
        self.widths = widths
        self.k = k
        self.tokens = tokens
        self.batch = batch
        self.lr = lr
        self.normalize = normalize
        self.holdout = holdout
        self.linearRows = linearRows
        self.corpus = corpus
        self.denseThreshold = denseThreshold
        self.seed = seed
        self.out = out
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        let seed = try json.int(Self.seed) ?? 0
        try JobFrontEnd().check(seed, Self.seed)
        self.init(model: try JobModel(json: json), activations: try JobFields.required(try json.string(Self.activations), Self.activations),
                  widths: try JobFields.required(try json.ints(Self.widths), Self.widths), k: try json.int(Self.k) ?? 32,
                  tokens: try JobFields.required(try json.int(Self.tokens), Self.tokens), batch: try json.int(Self.batch) ?? 4096,
                  lr: Float(try json.double(Self.lr) ?? 1e-3), normalize: try json.string(Self.normalize) ?? "per-dimension",
                  holdout: try json.double(Self.holdout) ?? 0.1, linearRows: try json.int(Self.linearRows) ?? 65536,
                  corpus: try json.strings(Self.corpus) ?? [], denseThreshold: try json.double(Self.denseThreshold) ?? 0.1,
                  seed: UInt64(seed), out: try JobFields.required(try json.string(Self.out), Self.out))
    }

    public func validate() throws {
        let f = frontEnd
        for width in widths { try f.check(width, Self.widths, 1...(1 << 24)) }
        try f.check(k, Self.k)
        try f.check(tokens, Self.tokens)
        try f.check(batch, Self.batch)
        try f.check(lr, Self.lr, above: true)
        try f.check(linearRows, Self.linearRows)
        try f.check(denseThreshold, Self.denseThreshold, above: true)
        guard !widths.isEmpty else { throw AnalysisError.invalid("\(f.name(Self.widths)) needs one or more positive widths") }
        guard Set(widths).count == widths.count else { throw AnalysisError.invalid("\(f.name(Self.widths)) has a width twice") }
        guard holdout > 0, holdout < 1 else { throw AnalysisError.invalid("\(f.name(Self.holdout)) must be in (0, 1), not \(holdout)") }
        guard widths.allSatisfy({ k <= $0 }) else { throw AnalysisError.invalid("\(f.name(Self.k)) must be in 1...the smallest width") }
        guard InputNormalization(rawValue: normalize) != nil else {
            throw AnalysisError.invalid("\(f.name(Self.normalize)) must be scalar, per-dimension or per-dimension-sqrt")
        }
    }

    public func run(monitor: AnalysisMonitor) throws -> SAESweepResult {
        let f = frontEnd
        let source = try HarvestedActivations(directory: activations)
        let held = Int(Double(source.rowCount) * holdout)
        let trainRows = source.rowCount - held
        guard held >= 1, trainRows >= batch else {
            throw AnalysisError.invalid("\(activations) has \(source.rowCount) rows: too few to hold out \(holdout) and train with batches of \(batch)")
        }
        let backend = try model.makeBackend(manyPasses: true, f)
        let loaded = corpus.isEmpty ? nil : try model.load(manyPasses: true, f)
        let texts = try loaded.map { try SAEEvalRequest.documents(corpus, for: $0) } ?? []
        if loaded != nil, !texts.contains(where: { $0.count >= 2 }) {
            // A CE-loss score over no predicted token is 0/0: refused before any training.
            throw AnalysisError.invalid("\(f.name(Self.corpus)) \(corpus.joined(separator: " ")): no document has the 2 tokens a next-token loss needs")
        }
        var results: [SweepResult] = []
        for width in widths.sorted() {
            let folder = (out as NSString).appendingPathComponent("width-\(width)")
            try train(width: width, folder: folder, hook: source.hook, trainRows: trainRows, monitor: monitor)
            let sae = try SAE.load(path: folder, backend: loaded?.backend ?? backend)
            var result = try evaluate(sae, source: source, trainRows: trainRows, monitor: monitor)
            if let loaded {
                let evaluator = try SAEEvaluator(model: loaded.transformer, sae: sae, denseThreshold: denseThreshold)
                for (i, text) in texts.enumerated() {
                    try evaluator.evaluate(text)
                    try monitor.step(i + 1, of: texts.count, "CE loss, width \(width)")
                }
                result.ceLossScore = evaluator.overall.ceScore
                result.ceDelta = evaluator.overall.ceSAE - evaluator.overall.ceClean
            }
            f.notice(String(format: "width %d: FVU %.4f, L0 %.1f, dead %d, dense %d", result.width, result.fvu, result.l0, result.dead, result.dense))
            results.append(result)
        }
        let fit = ScalingFit.fit(widths: results.map { Double($0.width) }, fvu: results.map(\.fvu))
        return SAESweepResult(activations: activations, k: k, trainRows: trainRows, heldoutRows: held, results: results, fit: fit)
    }

    /// Trains (or finishes, or keeps) one SAE as `sae train` does.
    func train(width: Int, folder: String, hook: String, trainRows: Int, monitor: AnalysisMonitor) throws {
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("sae_weights.safetensors")) {
            frontEnd.notice("width \(width): kept \(folder)")
            return
        }
        let resume = try TrainingRun.fileExists((folder as NSString).appendingPathComponent("checkpoint.safetensors"))
        var request = SAETrainRequest(
            model: JobModel(model: model.model, backend: model.backend),
            training: DictionaryTraining(width: width, k: k, tokens: tokens, rows: trainRows, lr: lr, batch: batch, seed: seed, normalize: normalize),
            hook: hook, activations: activations, out: folder, resume: resume)
        request.frontEnd = frontEnd
        try request.validate()
        _ = try request.run(monitor: monitor)
    }

    /// The held-out figures of one SAE: reconstruction and firing over the rows training never saw,
    /// and how much of its error a linear map (fitted on training rows) predicts.
    func evaluate(_ sae: SAE, source: HarvestedActivations, trainRows: Int, monitor: AnalysisMonitor) throws -> SweepResult {
        let b = sae.backend, d = sae.dIn, chunk = 4096
        var stats = SAERowStatistics(dIn: d, dSAE: sae.dSAE)
        let fitRows = min(linearRows, trainRows)
        var linear = LinearErrorPrediction(width: d, sample: try source.rows(Array(0..<min(fitRows, chunk))))
        func error(_ x: [Float]) throws -> [Float] {
            let xh = try b.read(try sae.decode(try sae.encode(try b.matrix(x, rows: x.count / d, cols: d))))
            return zip(x, xh).map { $0 - $1 }
        }
        let total = fitRows + source.rowCount - trainRows, subject = "evaluate width \(sae.dSAE)"
        for start in stride(from: 0, to: fitRows, by: chunk) {
            let x = try source.rows(Array(start..<min(fitRows, start + chunk)))
            try linear.fit(x: x, error: try error(x), backend: b)
            try monitor.step(min(fitRows, start + chunk), of: total, subject)
        }
        for start in stride(from: trainRows, to: source.rowCount, by: chunk) {
            let x = try source.rows(Array(start..<min(source.rowCount, start + chunk)))
            try stats.add(x, sae: sae)
            try linear.score(x: x, error: try error(x), backend: b)
            try monitor.step(fitRows + min(source.rowCount, start + chunk) - trainRows, of: total, subject)
        }
        return SweepResult(width: sae.dSAE, l0: stats.l0, fvu: 1 - stats.explainedVariance,
                           linearShare: linear.predictableFraction, dead: stats.dead, dense: stats.dense(threshold: denseThreshold))
    }
}

/// Every SAE's held-out figures and the fitted scaling law; `results` and `fit` keep the numbers
/// for the table and the page.
public struct SAESweepResult: Encodable, Sendable {
    public struct SAEFigures: Encodable, Sendable {
        public var width: Int
        public var l0: Double
        public var fvu: Double
        public var linearShareOfError: Double
        public var nonlinearFVU: Double
        public var dead: Int
        public var dense: Int
        public var ceLossScore: Double?
        public var ceDelta: Double?
        enum CodingKeys: String, CodingKey {
            case width, l0, fvu, dead, dense
            case linearShareOfError = "linear_share_of_error", nonlinearFVU = "nonlinear_fvu", ceLossScore = "ce_loss_score", ceDelta = "ce_delta"
        }
    }
    public struct Fit: Encodable, Sendable {
        public var a: Double
        public var b: Double
        public var c: Double
        public var rmsLogError: Double
        enum CodingKeys: String, CodingKey { case a, b, c, rmsLogError = "rms_log_error" }
    }

    public var activations: String
    public var k: Int
    public var trainRows: Int
    public var heldoutRows: Int
    public var saes: [SAEFigures]
    /// Nil with fewer than three widths.
    public var fitted: Fit?
    public let results: [SweepResult]
    public let fit: ScalingFit?

    init(activations: String, k: Int, trainRows: Int, heldoutRows: Int, results: [SweepResult], fit: ScalingFit?) {
        self.activations = activations
        self.k = k
        self.trainRows = trainRows
        self.heldoutRows = heldoutRows
        saes = results.map { r in
            SAEFigures(width: r.width, l0: r.l0, fvu: r.fvu, linearShareOfError: r.linearShare, nonlinearFVU: r.fvu * (1 - r.linearShare),
                       dead: r.dead, dense: r.dense, ceLossScore: r.ceLossScore, ceDelta: r.ceDelta)
        }
        fitted = fit.map { Fit(a: $0.a, b: $0.b, c: $0.c, rmsLogError: $0.rmsLogError) }
        self.results = results
        self.fit = fit
    }

    enum CodingKeys: String, CodingKey {
        case activations, k, saes
        case trainRows = "train_rows", heldoutRows = "heldout_rows", fitted = "fit"
    }
}
