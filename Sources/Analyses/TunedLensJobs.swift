import Foundation
import Lantern
import Training

/// The fields `lens eval` and `lens train` share.
enum LensFields {
    static let context = Field("context", .integer(2...1 << 20), default: "128", "Tokens per context, BOS included.")
}

/// Per-layer KL(final distribution ‖ lens distribution) over a corpus, for the logit lens and a
/// tuned lens (`lantern lens eval`). The corpus is packed as `lens train` packs it (contexts of
/// `context` tokens, BOS first); BOS positions are left out.
public struct LensEvalRequest: JobRequest {
    public static let name = "lens eval"
    public static let summary = "Mean KL(final distribution ‖ lens distribution) per layer over a corpus, for the logit lens and (with tuned) a tuned lens."
    public static let tuned = Field("tuned", .string(choices: []), "A tuned lens folder to measure beside the logit lens.")
    public static let tokens = Field("tokens", .integer(1...JobFields.maxCount), default: "2048",
                                     "Tokens to evaluate on (positions; BOS left out): exactly this many, or all the corpus has if fewer.")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens, tuned, tokens, LensFields.context]

    public var model: JobModel
    public var corpus: CorpusSource
    public var tuned: String?
    public var tokens: Int
    public var context: Int
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), tuned: String? = nil, tokens: Int = 2048, context: Int = 128) {
        self.model = model
        self.corpus = corpus
        self.tuned = tuned
        self.tokens = tokens
        self.context = context
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json), tuned: try json.string(Self.tuned),
                  tokens: try json.int(Self.tokens) ?? 2048, context: try json.int(LensFields.context) ?? 128)
    }

    public func validate() throws {
        try frontEnd.check(tokens, Self.tokens)
        try frontEnd.check(context, LensFields.context)
    }

    public func run(monitor: AnalysisMonitor) throws -> LensEvalResult {
        let loaded = try model.load(manyPasses: true, frontEnd)
        let lens = try tuned.map { try TunedLens.load(directory: $0) }
        var source = corpus
        source.notice = frontEnd.notice
        let packer = try source.packer(for: loaded, length: context)
        // Exactly `tokens` positions: the last context is cut after the ones still needed (its BOS kept).
        var contexts: [[Int32]] = [], counted = 0
        try packer.forEachContext { _, c in
            let take = min(c.count - 1, tokens - counted)
            contexts.append(Array(c.prefix(take + 1)))
            counted += take
            return counted < tokens
        }
        guard !contexts.isEmpty else {
            throw LanternError.invalidArgument("the corpus has fewer than \(context) tokens: give more text or a shorter \(frontEnd.name(LensFields.context))")
        }
        let report = try LensDivergence.evaluate(loaded.transformer, contexts: contexts, tuned: lens) {
            try monitor.step($0, of: contexts.count, "lens eval")
        }
        return LensEvalResult(tokens: report.tokens, contexts: contexts.count, context: context, corpus: try source.resolvedFiles(),
                              rows: report.hookNames.indices.map { row in
                                  LensEvalResult.Row(hook: report.hookNames[row], label: report.rowLabels[row], logitKL: report.logitKL[row],
                                                     tunedKL: report.tunedKL?[row])
                              }, tuned: tuned)
    }
}

/// KL per lens row, in nats, averaged over `tokens` positions.
public struct LensEvalResult: Encodable, Sendable {
    public struct Row: Encodable, Sendable {
        public var hook: String
        public var label: String
        public var logitKL: Double
        public var tunedKL: Double?
        enum CodingKeys: String, CodingKey { case hook, label, logitKL = "logit_kl", tunedKL = "tuned_kl" }
    }
    public var tokens: Int
    public var contexts: Int
    public var context: Int
    public var corpus: [String]
    public var rows: [Row]
    public var tuned: String?
}

/// A tuned lens (Belrose et al. 2023) trained on a corpus (`lantern lens train`): one affine
/// translator per layer, starting at zero (the logit lens), trained with Adam to lower KL(final ‖
/// lens). Writes OUT/config.json and OUT/params.safetensors at the end; a cancelled run writes
/// nothing (the trainer keeps no checkpoint: its runs are short next to an SAE's).
public struct LensTrainRequest: JobRequest {
    public static let name = "lens train"
    public static let summary = "Train a tuned lens (Belrose et al. 2023): one affine translator per layer, minimising KL(final ‖ lens)."
    public static let out = Field("out", .string(choices: []), "Output folder.")
    public static let tokens = Field("tokens", .integer(0...JobFields.maxCount),
                                     "Training tokens (positions; BOS left out); 0 keeps the start (a least-squares fit) as it is.")
    public static let start = Field("init", .string(choices: []), default: "zero",
                                    "Where the translators start: zero (the logit lens, as the paper), least-squares (each the affine map that best predicts the last residual, fitted on --init-tokens), or a lens folder.")
    public static let checkpointEvery = Field("checkpoint-every", .integer(1...1_000_000), default: "10",
                                              "Save OUT/checkpoint.safetensors every N steps (and after the last, and when cancelled).")
    public static let resume = Field("resume", .boolean, default: "false", "Continue the run whose checkpoint is in OUT (same settings).")
    public static let initTokens = Field("init-tokens", .integer(1...JobFields.maxCount), default: "16384",
                                         "Tokens the least-squares start is fitted on (positions; BOS left out).")
    public static let batch = Field("batch", .integer(1...1_000_000), default: "4", "Contexts per Adam step.")
    public static let lr = Field("lr", .number(0...10), default: "0.01",
                                 "Adam learning rate (the weights take lr/√d, each bias lr × its layer's residual RMS).")
    public static let stride = Field("stride", .integer(1...1 << 20), default: "1",
                                     "Use every N-th context of the corpus (spreads a short run over more of the text).")
    public static let dtype = Field("dtype", .string(choices: ["f16", "f32"]), default: "f16", "Storage of the saved parameters: f16 or f32.")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens, out, tokens, LensFields.context, batch, lr, stride, dtype,
                                                  start, initTokens, checkpointEvery, resume]

    public var model: JobModel
    public var corpus: CorpusSource
    public var out: String
    public var tokens: Int
    public var context: Int
    public var batch: Int
    public var lr: Float
    public var stride: Int
    public var dtype: String
    /// "zero", "least-squares" or a lens folder.
    public var start: String
    public var initTokens: Int
    public var checkpointEvery: Int
    public var resume: Bool
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), out: String, tokens: Int, context: Int = 128,
                batch: Int = 4, lr: Float = 1e-2, stride: Int = 1, dtype: String = "f16", start: String = "zero", initTokens: Int = 16384,
                checkpointEvery: Int = 10, resume: Bool = false) {
        self.model = model
        self.corpus = corpus
        self.out = out
        self.tokens = tokens
        self.context = context
        self.batch = batch
        self.lr = lr
        self.stride = stride
        self.dtype = dtype
        self.start = start
        self.initTokens = initTokens
        self.checkpointEvery = checkpointEvery
        self.resume = resume
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json),
                  out: try JobFields.required(try json.string(Self.out), Self.out),
                  tokens: try JobFields.required(try json.int(Self.tokens), Self.tokens), context: try json.int(LensFields.context) ?? 128,
                  batch: try json.int(Self.batch) ?? 4, lr: try json.double(Self.lr).map(Float.init) ?? 1e-2,
                  stride: try json.int(Self.stride) ?? 1, dtype: try json.string(Self.dtype) ?? "f16",
                  start: try json.string(Self.start) ?? "zero", initTokens: try json.int(Self.initTokens) ?? 16384,
                  checkpointEvery: try json.int(Self.checkpointEvery) ?? 10, resume: try json.bool(Self.resume) ?? false)
    }

    public func validate() throws {
        try frontEnd.check(tokens, Self.tokens)
        try frontEnd.check(context, LensFields.context)
        try frontEnd.check(batch, Self.batch)
        try frontEnd.check(lr, Self.lr, above: true)
        try frontEnd.check(stride, Self.stride)
        if !["f16", "f32"].contains(dtype) { throw AnalysisError.invalid("\(frontEnd.name(Self.dtype)) must be f16 or f32, got '\(dtype)'") }
        try frontEnd.check(initTokens, Self.initTokens)
        try frontEnd.check(checkpointEvery, Self.checkpointEvery)
        if !["zero", "least-squares"].contains(start), !FileManager.default.fileExists(atPath: (start as NSString).appendingPathComponent("config.json")) {
            throw AnalysisError.invalid("\(frontEnd.name(Self.start)) must be zero, least-squares or a tuned lens folder (with config.json), got '\(start)'")
        }
        if tokens == 0, start == "zero" {
            throw AnalysisError.invalid("\(frontEnd.name(Self.tokens)) 0 trains nothing: give tokens, or \(frontEnd.name(Self.start)) least-squares to save the fit")
        }
    }

    /// The lens training starts from, and what the start cost.
    func startingLens(_ loaded: LanternModel, monitor: AnalysisMonitor) throws -> (lens: TunedLens, notes: [String: Any]) {
        let name = (loaded.source as NSString).lastPathComponent
        switch start {
        case "zero":
            return (TunedLens(for: loaded.transformer, name: name), ["init": "zero"])
        case "least-squares":
            var source = corpus
            source.notice = frontEnd.notice
            let begin = Date()
            let lens = try TunedLensFit.fit(model: loaded.transformer, packer: try source.packer(for: loaded, length: context),
                                            options: .init(tokens: initTokens, context: context), name: name) { done, total in
                try monitor.step(done, of: total, JobProgress.label("lens fit", "least-squares start, \(done)/\(total) tokens"))
            }
            let seconds = Date().timeIntervalSince(begin)
            frontEnd.notice(String(format: "least-squares start fitted on %d tokens in %.0fs", initTokens, seconds))
            return (lens, ["init": "least-squares", "init_tokens": initTokens, "init_seconds": Int(seconds.rounded())])
        default:
            var lens = try TunedLens.load(directory: start)
            try lens.check(against: loaded.transformer.config)
            lens.config.baseModel = name
            return (lens, ["init": (start as NSString).lastPathComponent])
        }
    }

    public func run(monitor: AnalysisMonitor) throws -> LensTrainResult {
        let loaded = try model.load(manyPasses: true, frontEnd)
        var source = corpus
        source.notice = frontEnd.notice
        let options = TunedLensTrainer.Options(tokens: tokens, context: context, contextsPerStep: batch, learningRate: lr, contextStride: stride)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let checkpointPath = (out as NSString).appendingPathComponent("checkpoint.safetensors")
        var resumed: TunedLensCheckpoint?
        if tokens > 0, FileManager.default.fileExists(atPath: checkpointPath) {
            guard resume else {
                throw AnalysisError.invalid("\(checkpointPath) exists: pass \(frontEnd.name(Self.resume)) to continue it, or another \(frontEnd.name(Self.out))")
            }
            resumed = try TunedLensCheckpoint.load(path: checkpointPath)
            frontEnd.notice("resuming at step \(resumed!.step) of \(options.steps) from \(checkpointPath)")
        }
        // A resumed run's translators come from its checkpoint: the start is not made again.
        var (lens, startNotes) = resumed != nil
            ? (TunedLens(for: loaded.transformer, name: (loaded.source as NSString).lastPathComponent), ["init": start, "resumed": true] as [String: Any])
            : try startingLens(loaded, monitor: monitor)
        let start = Date()
        var last: TunedLensTrainer.Step?
        if tokens > 0 {
            let trainer = try TunedLensTrainer(model: loaded.transformer, packer: try source.packer(for: loaded, length: context), options: options)
            try trainer.train(&lens, resume: resumed, checkpoint: (checkpointPath, checkpointEvery)) { step in
                last = step
                let mean = step.kl.reduce(0, +) / Double(step.kl.count)
                let rate = Double(step.tokens) / max(Date().timeIntervalSince(start), 1e-9)
                try monitor.step(step.step, of: step.steps, JobProgress.label(
                    "lens train", String(format: "step %d/%d, mean KL %.3f nats, %.1f tokens/s", step.step, step.steps, mean, rate)))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let files = try source.resolvedFiles().map { ($0 as NSString).lastPathComponent }
        let training: [String: Any] = startNotes.merging([
            "tokens": last?.tokens ?? 0, "steps": tokens > 0 ? options.steps : 0, "context": context, "contexts_per_step": batch, "context_stride": stride,
            "lr": Double(lr), "corpus": files, "seconds": Int(seconds.rounded()), "dtype": dtype, "last_step_kl": last?.kl ?? [],
        ]) { a, _ in a }
        try lens.save(directory: out, dtype: dtype == "f16" ? .f16 : .f32, extra: ["lantern_training": training])
        frontEnd.notice(String(format: "trained %d translators on %d tokens in %.0fs; wrote %@ (measure it: lantern lens eval --tuned %@ --corpus HELD-OUT)",
                               lens.config.layerCount, last?.tokens ?? 0, seconds, out, out))
        return LensTrainResult(out: out, translators: lens.config.layerCount, tokens: last?.tokens ?? 0, steps: tokens > 0 ? options.steps : 0,
                               lastStepKL: last?.kl ?? [], seconds: seconds)
    }
}

/// What a tuned-lens run wrote: its translators, the tokens it trained on, and the last step's
/// KL per translator.
public struct LensTrainResult: Encodable, Sendable {
    public var out: String
    public var translators: Int
    public var tokens: Int
    public var steps: Int
    public var lastStepKL: [Double]
    public var seconds: Double
    enum CodingKeys: String, CodingKey { case out, translators, tokens, steps, seconds, lastStepKL = "last_step_kl" }
}
