import Foundation
import Lantern
import Training

/// A TopK, JumpReLU or ReLU SAE trained on one hook's activations, saved for SAELens (`lantern sae
/// train`). Reads a harvest (`activations`), or harvests `tokens` rows into OUT/activations first.
/// Writes OUT/checkpoint.safetensors every `checkpoint_every` steps (continue with `resume`) and,
/// at the end, OUT/cfg.json + OUT/sae_weights.safetensors.
public struct SAETrainRequest: JobRequest {
    public static let name = "sae train"
    public static let summary = "Train a sparse autoencoder on one hook's activations (output in SAELens format)."
    public static let hook = Field("hook", .string(choices: []), "The hook the SAE reads (e.g. blocks.6.hook_resid_post).")
    public static let out = Field("out", .string(choices: []), default: "sae", "Output directory.")
    public static let context = Field("context", .integer(2...1 << 20), default: "128", "Tokens per context when harvesting first (without --activations).")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens] + DictionaryTraining.fields
        + [hook, JobFields.activations, out, JobFields.resume, context]

    public var model: JobModel
    public var corpus: CorpusSource
    public var training: DictionaryTraining
    public var hook: String
    /// A folder `harvest` wrote; nil: harvest first, into OUT/activations.
    public var activations: String?
    public var out: String
    public var resume: Bool
    public var context: Int
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), training: DictionaryTraining, hook: String,
                activations: String? = nil, out: String = "sae", resume: Bool = false, context: Int = 128) {
        self.model = model
        self.corpus = corpus
        self.training = training
        self.hook = hook
        self.activations = activations
        self.out = out
        self.resume = resume
        self.context = context
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json), training: try DictionaryTraining(json: json),
                  hook: try JobFields.required(try json.string(Self.hook), Self.hook), activations: try json.string(JobFields.activations),
                  out: try json.string(Self.out) ?? "sae", resume: try json.bool(JobFields.resume) ?? false,
                  context: try json.int(Self.context) ?? 128)
    }

    public func validate() throws {
        try training.validate(frontEnd)
        try frontEnd.check(context, Self.context)
    }

    /// Where the harvest-first run puts its activations.
    var harvestFolder: String { (out as NSString).appendingPathComponent("activations") }

    public func run(monitor: AnalysisMonitor) throws -> SAETrainResult {
        let f = frontEnd
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // With harvested activations the model itself is not needed, only a backend.
        let (harvested, backend) = try activationsAndBackend(monitor)
        guard harvested.hook == hook else {
            throw AnalysisError.invalid("\(activations ?? out) holds \(harvested.hook), not \(f.name(Self.hook)) \(hook)")
        }
        let source = try training.trainingRows(harvested, f)
        let checkpoint = (out as NSString).appendingPathComponent("checkpoint.safetensors")
        let trainer: SAETrainer
        if resume {
            guard try TrainingRun.fileExists(checkpoint) else { throw AnalysisError.invalid("\(f.name(JobFields.resume)): no \(checkpoint)") }
            trainer = try SAETrainer.resume(checkpoint: checkpoint, source: source, backend: backend)
            try TrainingRun.checkResume(trainer, training: training, activations: activations ?? harvestFolder, rows: source.rowCount,
                                        folder: out, f)
            f.notice("resuming at step \(trainer.step) of \(trainer.totalSteps)")
        } else {
            guard try !TrainingRun.fileExists(checkpoint) else {
                throw AnalysisError.invalid("\(checkpoint) exists: pass \(f.name(JobFields.resume)) to continue it, or another \(f.name(Self.out))")
            }
            try training.checkMemory(inputWidth: source.width, f)
            trainer = try SAETrainer(settings: training.settings(inputWidth: source.width), source: source, backend: backend)
            try TrainingRun(activations: activations ?? harvestFolder, rows: source.rowCount).save(folder: out)
        }
        let resumedAt = trainer.step
        let s = trainer.settings
        TrainingRun.warnAboutPasses(tokens: s.tokens, rows: source.rowCount, held: harvested.rowCount - source.rowCount, f)
        f.notice("\(s.architecture.rawValue) SAE \(source.width) → \(s.width) on \(source.rowCount) rows of \(hook); \(trainer.totalSteps) steps of \(s.batchSize)")

        let loop = TrainingLoop(trainer: trainer, out: out, checkpoint: checkpoint, checkpointEvery: training.checkpointEvery, frontEnd: f)
        let (last, seconds, trained) = try loop.run(resumed: resume, title: "\(s.architecture.rawValue) SAE \(source.width) → \(s.width), \(hook)",
                                                    subject: "train", monitor: monitor)
        try SAELensExport.write(
            trainer.parameters, architecture: s.architecture, k: s.k,
            description: .init(hookName: hook, hookLayer: SAELensExport.layer(ofHook: hook), modelName: harvested.modelName,
                               contextSize: harvested.context, dataset: activations ?? corpus.files.joined(separator: ",")),
            training: ["tokens": s.tokens, "batch_size": s.batchSize, "seed": Int(s.seed), "normalization": s.normalization.rawValue,
                       "k": s.k, "learning_rate": Double("\(s.learningRate)") ?? 0, "final_sparsity_coefficient": trainer.sparsityCoefficient],
            to: out)
        var result = SAETrainResult(out: out, hook: hook, architecture: s.architecture.rawValue, inputWidth: source.width, width: s.width,
                                    rows: source.rowCount, step: trainer.step, totalSteps: trainer.totalSteps, resumedAt: resume ? resumedAt : nil,
                                    lastBatch: last.map(SAETrainResult.Batch.init), deadFraction: trainer.deadFraction, heldOut: nil,
                                    trainedTokens: trained, seconds: seconds)
        if let last {
            f.notice(String(format: "last batch: loss %.4f, L0 %.1f, explained variance %.3f, dead %.1f%%",
                            last.loss, last.l0, last.explainedVariance, trainer.deadFraction * 100))
        }
        // The training batch flatters an SAE that has seen its rows many times: rows it never saw say more.
        if source.rowCount < harvested.rowCount {
            let held = source.rowCount..<min(harvested.rowCount, source.rowCount + 8192)
            let r = try trainer.evaluate(harvested, rows: held)
            result.heldOut = .init(start: held.lowerBound, end: held.upperBound, l0: finite(r.l0), explainedVariance: finite(r.explainedVariance))
            f.notice(String(format: "held out (rows %d..<%d, not trained on): L0 %.1f, explained variance %.3f",
                            held.lowerBound, held.upperBound, r.l0, r.explainedVariance))
        } else {
            f.notice("held out: none (every row was trained on; \(f.name(DictionaryTraining.rows)) N keeps the rest back and reports them here)")
        }
        f.notice(String(format: "trained on %d tokens in %.1fs (%.0f tokens/s); wrote %@/cfg.json and sae_weights.safetensors",
                        trained, seconds, seconds > 0 ? Double(trained) / seconds : 0, out))
        return result
    }

    /// The activations and a backend: the harvest named, or a harvest made first with the model.
    func activationsAndBackend(_ monitor: AnalysisMonitor) throws -> (HarvestedActivations, any Backend) {
        if let activations {
            if let (folder, manifest) = try HarvestManifest.all(in: activations).first {
                try HarvestModelCheck.check(requested: model.model, harvested: manifest.model,
                                            manifest: (folder as NSString).appendingPathComponent("manifest.json"), option: frontEnd.name(JobModel.model))
            }
            return (try HarvestedActivations(directory: activations), try model.makeBackend(manyPasses: true, frontEnd))
        }
        let loaded = try model.load(manyPasses: true, frontEnd)
        var harvest = HarvestRequest(model: model, corpus: corpus, hook: hook, tokens: training.tokens, context: context, out: harvestFolder)
        harvest.frontEnd = frontEnd
        try harvest.validate()
        _ = try harvest.run(on: loaded, monitor: monitor)
        return (try HarvestedActivations(directory: harvestFolder), loaded.backend)
    }
}

/// What a training run did: the SAE's shape, how far it trained, its last batch and held-out rows.
public struct SAETrainResult: Codable, Sendable {
    public struct Batch: Codable, Sendable {
        public var loss: Double?
        public var l0: Double?
        public var explainedVariance: Double?
        /// Normalised MSE: 1 − explained variance (a transcoder's fraction of variance unexplained).
        public var fvu: Double?

        init(_ r: SAEBatchResult) {
            loss = finite(r.loss)
            l0 = finite(r.l0)
            explainedVariance = finite(r.explainedVariance)
            fvu = finite(r.reconstructionLoss)
        }

        enum CodingKeys: String, CodingKey {
            case loss, l0, fvu
            case explainedVariance = "explained_variance"
        }
    }

    /// Rows start..<end of the harvest, which training never saw.
    public struct HeldOut: Codable, Sendable {
        public var start: Int
        public var end: Int
        public var l0: Double?
        public var explainedVariance: Double?

        enum CodingKeys: String, CodingKey {
            case start, end, l0
            case explainedVariance = "explained_variance"
        }
    }

    public var out: String
    public var hook: String
    public var architecture: String
    public var inputWidth: Int
    public var width: Int
    /// Rows trained on.
    public var rows: Int
    public var step: Int
    public var totalSteps: Int
    /// The checkpoint's step a resumed run started from.
    public var resumedAt: Int?
    /// Nil when no step ran (a resumed run that had finished).
    public var lastBatch: Batch?
    public var deadFraction: Double
    public var heldOut: HeldOut?
    public var trainedTokens: Int
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case out, hook, architecture, width, rows, step, seconds
        case inputWidth = "input_width", totalSteps = "total_steps", resumedAt = "resumed_at", lastBatch = "last_batch"
        case deadFraction = "dead_fraction", heldOut = "held_out", trainedTokens = "trained_tokens"
    }
}
