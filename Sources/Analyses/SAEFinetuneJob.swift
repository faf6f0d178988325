import Foundation
import Lantern
import Training

/// A trained TopK SAE fine-tuned end to end (`lantern sae finetune`): spliced into the model, it is
/// trained to keep the next-token distributions as they were (KL), with a weight on its own
/// reconstruction error; its k, and so its L0, stay fixed. Writes OUT/checkpoint.safetensors every
/// `checkpoint_every` steps (continue with `resume`) with OUT/training-log.csv (KL, reconstruction
/// error and L0 per step) beside it, and, at the end, OUT/training.svg, OUT/cfg.json +
/// OUT/sae_weights.safetensors.
public struct SAEFinetuneRequest: JobRequest {
    public static let name = "sae finetune"
    public static let summary = "Fine-tune a TopK SAE end to end: spliced into the model, lower KL(clean ‖ spliced) next-token distributions at fixed L0."
    public static let sae = Field("sae", .string(choices: []), "The TopK SAE to start from (a SAELens folder, or any folder `--sae` reads).")
    public static let out = Field("out", .string(choices: []), "Output folder (SAELens format).")
    public static let tokens = Field("tokens", .integer(1...JobFields.maxCount), "Training tokens (spliced positions; BOS left out).")
    public static let context = Field("context", .integer(2...1 << 20), default: "128", "Tokens per context, BOS included.")
    public static let batch = Field("batch", .integer(1...1_000_000), default: "4", "Contexts per Adam step.")
    public static let lr = Field("lr", .number(0...10), default: "0.0001", "Adam learning rate (in the normalised space the SAE is trained in).")
    public static let reconstructionWeight = Field("reconstruction-weight", .number(0...1_000_000), default: "1",
                                                   "Weight of the reconstruction error (Σ‖x̂−x‖² per token, normalised) beside the KL; 0: KL alone.")
    public static let stride = Field("stride", .integer(1...1 << 20), default: "1", "Use every N-th context of the corpus.")
    public static let checkpointEvery = Field("checkpoint-every", .integer(1...1_000_000), default: "10",
                                              "Save OUT/checkpoint.safetensors every N steps (and after the last, and when cancelled).")
    public static let dtype = Field("dtype", .string(choices: ["f16", "f32"]), default: "f32", "Storage of W_enc and W_dec: f16 or f32 (biases stay f32).")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens, sae, out, tokens, context, batch, lr, reconstructionWeight,
                                                  stride, checkpointEvery, JobFields.resume, dtype]

    public var model: JobModel
    public var corpus: CorpusSource
    public var sae: String
    public var out: String
    public var tokens: Int
    public var context: Int
    public var batch: Int
    public var lr: Float
    public var reconstructionWeight: Double
    public var stride: Int
    public var checkpointEvery: Int
    public var resume: Bool
    public var dtype: String
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), sae: String, out: String, tokens: Int, context: Int = 128,
                batch: Int = 4, lr: Float = 1e-4, reconstructionWeight: Double = 1, stride: Int = 1, checkpointEvery: Int = 10,
                resume: Bool = false, dtype: String = "f32") {
        self.model = model
        self.corpus = corpus
        self.sae = sae
        self.out = out
        self.tokens = tokens
        self.context = context
        self.batch = batch
        self.lr = lr
        self.reconstructionWeight = reconstructionWeight
        self.stride = stride
        self.checkpointEvery = checkpointEvery
        self.resume = resume
        self.dtype = dtype
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json), sae: try JobFields.required(try json.string(Self.sae), Self.sae),
                  out: try JobFields.required(try json.string(Self.out), Self.out),
                  tokens: try JobFields.required(try json.int(Self.tokens), Self.tokens), context: try json.int(Self.context) ?? 128,
                  batch: try json.int(Self.batch) ?? 4, lr: try json.double(Self.lr).map(Float.init) ?? 1e-4,
                  reconstructionWeight: try json.double(Self.reconstructionWeight) ?? 1, stride: try json.int(Self.stride) ?? 1,
                  checkpointEvery: try json.int(Self.checkpointEvery) ?? 10, resume: try json.bool(JobFields.resume) ?? false,
                  dtype: try json.string(Self.dtype) ?? "f32")
    }

    public func validate() throws {
        let f = frontEnd
        try f.check(tokens, Self.tokens)
        try f.check(context, Self.context)
        try f.check(batch, Self.batch)
        try f.check(lr, Self.lr, above: true)
        try f.check(reconstructionWeight, Self.reconstructionWeight)
        try f.check(stride, Self.stride)
        try f.check(checkpointEvery, Self.checkpointEvery)
        if !["f16", "f32"].contains(dtype) { throw AnalysisError.invalid("\(f.name(Self.dtype)) must be f16 or f32, got '\(dtype)'") }
        if (out as NSString).standardizingPath == (sae as NSString).standardizingPath {
            throw AnalysisError.invalid("\(f.name(Self.out)) must differ from \(f.name(Self.sae)): the SAE it starts from is not overwritten")
        }
    }

    public func run(monitor: AnalysisMonitor) throws -> SAEFinetuneResult {
        let f = frontEnd
        let loaded = try model.load(manyPasses: true, f)
        let start = try SAE.load(path: sae, backend: loaded.transformer.backend)
        try start.check(against: loaded.transformer.config)
        guard case let .topK(k) = start.config.activation, start.config.applyBDecToInput, !start.config.centersInput else {
            throw AnalysisError.invalid("\(f.name(Self.sae)) \(sae): fine-tuning takes a TopK SAE that subtracts b_dec from its input (SAELens apply_b_dec_to_input), not \(start.config.activation)")
        }
        var source = corpus
        source.notice = f.notice
        let options = SAEKLFinetuner.Options(tokens: tokens, context: context, contextsPerStep: batch, learningRate: lr,
                                             reconstructionWeight: reconstructionWeight, contextStride: stride)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let checkpointPath = (out as NSString).appendingPathComponent("checkpoint.safetensors")
        var resumed: SAEKLCheckpoint?
        if FileManager.default.fileExists(atPath: checkpointPath) {
            guard resume else {
                throw AnalysisError.invalid("\(checkpointPath) exists: pass \(f.name(JobFields.resume)) to continue it, or another \(f.name(Self.out))")
            }
            resumed = try SAEKLCheckpoint.load(path: checkpointPath)
            guard resumed!.parameters.inputWidth == start.dIn, resumed!.parameters.width == start.dSAE else {
                throw AnalysisError.invalid("\(checkpointPath) holds an SAE of \(resumed!.parameters.width) latents on width \(resumed!.parameters.inputWidth), not \(f.name(Self.sae))'s \(start.dSAE) on \(start.dIn)")
            }
            f.notice("resuming at step \(resumed!.step) of \(options.steps) from \(checkpointPath)")
        } else if resume {
            throw AnalysisError.invalid("\(f.name(JobFields.resume)): no \(checkpointPath)")
        }
        let trainer = try SAEKLFinetuner(model: loaded.transformer, hook: start.hookName, k: k,
                                         packer: try source.packer(for: loaded, length: context), options: options)
        let began = Date()
        var last: SAEKLFinetuner.Step?, tokensHere = 0
        // The log is saved whenever the fine-tuner saves its checkpoint, so the two always match.
        var log = StepCSV(path: (out as NSString).appendingPathComponent("training-log.csv"),
                          header: "step,tokens,kl,reconstruction_error,l0", resumingAt: resumed?.step ?? 0)
        let p = try trainer.train(start: try start.hostWeights(), resume: resumed, checkpoint: (checkpointPath, checkpointEvery)) { step in
            last = step
            tokensHere += step.tokens / step.step  // this run's tokens, not the resumed steps'
            log.rows.append(String(format: "%d,%d,%.6g,%.6g,%.3f", step.step, step.tokens, step.kl, step.reconstructionError, step.l0))
            if step.step % checkpointEvery == 0 || step.step == step.steps { try log.save() }
            let rate = Double(tokensHere) / max(Date().timeIntervalSince(began), 1e-9)
            do {
                try monitor.step(step.step, of: step.steps, JobProgress.label(
                    "sae finetune", String(format: "step %d/%d, KL %.4f nats, reconstruction error %.4f, L0 %.1f, %.1f tokens/s",
                                           step.step, step.steps, step.kl, step.reconstructionError, step.l0, rate)))
            } catch {
                try log.save()  // the fine-tuner saves this step's checkpoint too
                throw error
            }
        }
        try log.save()
        try Self.plot(log, title: "KL fine-tuning of \((sae as NSString).lastPathComponent)",
                      to: (out as NSString).appendingPathComponent("training.svg"))
        let seconds = Date().timeIntervalSince(began)
        let files = try source.resolvedFiles().map { ($0 as NSString).lastPathComponent }
        let cfg = Self.startConfig(sae)
        var training = cfg["lantern_training"] as? [String: Any] ?? [:]
        training["kl_finetune"] = [
            "from": (sae as NSString).lastPathComponent, "tokens": last?.tokens ?? tokens, "steps": options.steps, "context": context,
            "contexts_per_step": batch, "context_stride": stride, "lr": Double(lr), "reconstruction_weight": reconstructionWeight,
            "corpus": files, "last_step_kl": last?.kl ?? 0, "last_step_reconstruction_error": last?.reconstructionError ?? 0,
        ] as [String: Any]
        let description = SAELensExport.Description(hookName: start.hookName, hookLayer: SAELensExport.layer(ofHook: start.hookName),
                                                    modelName: cfg["model_name"] as? String ?? (loaded.source as NSString).lastPathComponent,
                                                    contextSize: cfg["context_size"] as? Int ?? context, dataset: cfg["dataset_path"] as? String)
        try SAELensExport.write(p, architecture: .topk, k: k, description: description, training: training,
                                weights: dtype == "f16" ? .f16 : .f32, to: out)
        // A run resumed after its last step trains nothing more: it writes the finished SAE.
        f.notice(String(format: "fine-tuned on %d tokens in %.0fs; wrote %@ (measure it: lantern sae eval --sae %@ --corpus HELD-OUT)",
                        last?.tokens ?? tokens, seconds, out, out))
        return SAEFinetuneResult(out: out, tokens: last?.tokens ?? tokens, steps: options.steps, k: k, lastStepKL: last?.kl ?? 0,
                                 lastStepReconstructionError: last?.reconstructionError ?? 0, seconds: seconds)
    }

    /// KL and the reconstruction error against tokens seen, log-log.
    static func plot(_ log: StepCSV, title: String, to file: String) throws {
        let fields = log.fields(count: 5)
        var plot = SVGPlot(title: title, xLabel: "fine-tuning tokens", yLabel: "per step", logX: true, logY: true)
        plot.series = [
            .init(label: "KL(clean ‖ spliced), nats", points: fields.map { ($0[1], $0[2]) }, color: "#c03030", dots: false),
            .init(label: "normalised reconstruction error", points: fields.map { ($0[1], $0[3]) }, color: "#3060c0", dots: false),
        ]
        try plot.svg.write(toFile: file, atomically: true, encoding: .utf8)
    }

    /// The starting SAE's cfg.json fields (empty when it has none: a Gemma Scope folder).
    static func startConfig(_ path: String) -> [String: Any] {
        let file = (path as NSString).appendingPathComponent("cfg.json")
        guard let data = FileManager.default.contents(atPath: file),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }
}

/// What a fine-tuning run wrote.
public struct SAEFinetuneResult: Encodable, Sendable {
    public var out: String
    public var tokens: Int
    public var steps: Int
    public var k: Int
    public var lastStepKL: Double
    public var lastStepReconstructionError: Double
    public var seconds: Double
    enum CodingKeys: String, CodingKey {
        case out, tokens, steps, k, seconds, lastStepKL = "last_step_kl", lastStepReconstructionError = "last_step_reconstruction_error"
    }
}
