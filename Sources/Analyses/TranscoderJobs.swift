import Foundation
import Lantern
import Training

/// Which layers a transcoder job works on: `all`, `3`, `0,4,8` or `2-5`.
public struct LayerSelection: Sendable, Equatable {
    public static let field = Field("layers", .string(choices: []), default: "all", "Layers: all, 3, 0,4,8 or 2-5.")
    public var text: String
    public init(_ text: String = "all") { self.text = text }

    public var isAll: Bool { text == "all" }

    /// The layers chosen from `count`, in the order given.
    public func layers(of count: Int, _ f: JobFrontEnd) throws -> [Int] {
        if isAll { return Array(0..<count) }
        let name = f.name(Self.field)
        var layers: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(ends.count), let lo = ends.first!, let hi = ends.last!, lo <= hi else {
                throw AnalysisError.invalid("\(name): '\(part)' is not a layer or a range like 2-5 (in '\(text)')")
            }
            guard lo >= 0, hi < count else {
                throw AnalysisError.invalid("\(name): \(part) is outside 0..<\(count) (the model's layers)")
            }
            if let repeated = (lo...hi).first(where: layers.contains) {
                throw AnalysisError.invalid("\(name) names layer \(repeated) twice in '\(text)'")
            }
            layers += Array(lo...hi)
        }
        return layers
    }
}

/// Every chosen layer's MLP input and output from one forward pass (`lantern transcoder
/// harvest`), resumable and splittable like `harvest`.
public struct TranscoderHarvestRequest: JobRequest {
    public static let name = "transcoder harvest"
    public static let summary = "Save every layer's MLP input (ln2.hook_normalized) and output (hook_mlp_out) over a corpus."
    public static let tokens = Field("tokens", .integer(1...JobFields.maxCount), "Activation rows (tokens) to collect.")
    public static let batch = Field("batch", .integer(1...1_000_000), default: "16", "Contexts per shard file.")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens, tokens, LayerSelection.field,
                                                  HarvestRequest.context, batch, HarvestRequest.dtype, JobFields.out]

    public var model: JobModel
    public var corpus: CorpusSource
    public var tokens: Int
    public var layers: LayerSelection
    public var context: Int
    public var batch: Int
    public var dtype: String
    public var out: String
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), tokens: Int, layers: LayerSelection = LayerSelection(),
                context: Int = 128, batch: Int = 16, dtype: String = "f32", out: String) {
        self.model = model
        self.corpus = corpus
        self.tokens = tokens
        self.layers = layers
        self.context = context
        self.batch = batch
        self.dtype = dtype
        self.out = out
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json),
                  tokens: try JobFields.required(try json.int(Self.tokens), Self.tokens),
                  layers: LayerSelection(try json.string(LayerSelection.field) ?? "all"),
                  context: try json.int(HarvestRequest.context) ?? 128, batch: try json.int(Self.batch) ?? 16,
                  dtype: try json.string(HarvestRequest.dtype) ?? "f32",
                  out: try JobFields.required(try json.string(JobFields.out), JobFields.out))
    }

    public func validate() throws {
        try frontEnd.check(tokens, Self.tokens)
        try frontEnd.check(context, HarvestRequest.context)
        try frontEnd.check(batch, Self.batch)
        _ = try HarvestRequest.shardDType(dtype, frontEnd)
    }

    public func run(monitor: AnalysisMonitor) throws -> HarvestResult {
        let loaded = try model.load(manyPasses: true, frontEnd)
        let chosen = try layers.layers(of: loaded.transformer.config.layerCount, frontEnd)
        let config = loaded.transformer.config
        let hooks = chosen.flatMap { [MLPTranscoderHooks.input($0, of: config), MLPTranscoderHooks.output($0)] }
        var source = corpus
        source.notice = frontEnd.notice
        var options = Harvester.Options(hooks: hooks, tokens: tokens, context: context, contextsPerShard: batch)
        options.dtype = try HarvestRequest.shardDType(dtype, frontEnd)
        let harvester = try Harvester(
            model: loaded.transformer, modelName: loaded.source, packer: try source.packer(for: loaded, length: context), options: options)
        var result = try HarvestResult.run(harvester, output: out, subject: "harvest \(chosen.count) layers", monitor: monitor)
        result.layers = chosen
        frontEnd.notice(String(format: "%d rows of %d hooks (%d layers, width %d) in %@; %d new in %.1fs",
                               result.rows, hooks.count, chosen.count, result.width, out, result.newRows, result.seconds))
        return result
    }
}

/// One transcoder per chosen layer, on the pairs `transcoder harvest` saved (`lantern transcoder
/// train`): sparse features reading ln2.hook_normalized and predicting hook_mlp_out, trained one
/// layer after another into OUT/layer_L_width_W_k_K[_affine]/ (Gemma Scope 2's layout). A layer
/// whose run finished is skipped; with `resume` an interrupted layer continues from its checkpoint.
public struct TranscoderTrainRequest: JobRequest {
    public static let name = "transcoder train"
    public static let summary = "Train a transcoder per layer: sparse features reading ln2.hook_normalized, predicting hook_mlp_out."
    public static let activations = Field("activations", .string(choices: []), "A directory `lantern transcoder harvest` wrote.")
    public static let skip = Field("skip", .boolean, default: "false",
                                   "Add an affine skip connection x·W_skip (Gemma Scope 2's _affine transcoders).")
    public static let out = Field("out", .string(choices: []), default: "transcoders", "Output directory (one folder per layer inside).")
    public static let resume = Field("resume", .boolean, default: "false", "Continue an interrupted layer from its checkpoint.")
    public static let crossLayer = Field("cross_layer", .boolean, default: "false",
                                         "Train one cross-layer transcoder instead (TopK): layer i's features write to the MLP outputs of layers i…n−1; OUT becomes its folder.")
    public static let memoryGB = Field("memory_gb", .number(0...Double(1 << 30)),
                                       "With cross_layer: refuse a run that needs more memory than this many GB (default: this machine's memory).")
    public static let fields = JobModel.fields + DictionaryTraining.fields + [activations, LayerSelection.field, skip, out, resume,
                                                                              crossLayer, memoryGB]

    public var model: JobModel
    public var training: DictionaryTraining
    public var activations: String
    public var layers: LayerSelection
    public var skip: Bool
    public var out: String
    public var resume: Bool
    public var crossLayer: Bool
    public var memoryGB: Double?
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), training: DictionaryTraining, activations: String, layers: LayerSelection = LayerSelection(),
                skip: Bool = false, out: String = "transcoders", resume: Bool = false, crossLayer: Bool = false, memoryGB: Double? = nil) {
        self.model = model
        self.training = training
        self.activations = activations
        self.layers = layers
        self.skip = skip
        self.out = out
        self.resume = resume
        self.crossLayer = crossLayer
        self.memoryGB = memoryGB
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), training: try DictionaryTraining(json: json),
                  activations: try JobFields.required(try json.string(Self.activations), Self.activations),
                  layers: LayerSelection(try json.string(LayerSelection.field) ?? "all"), skip: try json.bool(Self.skip) ?? false,
                  out: try json.string(Self.out) ?? "transcoders", resume: try json.bool(Self.resume) ?? false,
                  crossLayer: try json.bool(Self.crossLayer) ?? false, memoryGB: try json.double(Self.memoryGB))
    }

    public func validate() throws {
        try training.validate(frontEnd)
        try frontEnd.check(memoryGB, Self.memoryGB, above: true)
        if memoryGB != nil && !crossLayer {
            throw AnalysisError.invalid("\(frontEnd.name(Self.memoryGB)) applies to \(frontEnd.name(Self.crossLayer)) only")
        }
    }

    /// The folder of layer l's transcoder, named as Gemma Scope 2 names its own.
    public func folder(layer l: Int) -> String {
        let sparsity = training.k.map { "k_\($0)" } ?? "l0_\(Int(training.l0 ?? 0))"
        return (out as NSString).appendingPathComponent("layer_\(l)_width_\(training.width)_\(sparsity)" + (skip ? "_affine" : ""))
    }

    public func run(monitor: AnalysisMonitor) throws -> TranscoderTrainResult {
        guard let (folder, manifest) = try HarvestManifest.all(in: activations).first else {
            throw AnalysisError.invalid("\(activations): no harvest manifest (run lantern transcoder harvest)")
        }
        try HarvestModelCheck.check(requested: model.model, harvested: manifest.model,
                                    manifest: (folder as NSString).appendingPathComponent("manifest.json"), option: frontEnd.name(JobModel.model))
        // The layers whose MLP input and output were both harvested.
        let hooks = Set(manifest.allHooks)
        let harvested = Set(hooks.map(SAELensExport.layer(ofHook:))).filter {
            MLPTranscoderHooks.inputs($0).contains(where: hooks.contains) && hooks.contains(MLPTranscoderHooks.output($0))
        }
        if crossLayer { return try trainCrossLayer(harvested: harvested, hooks: hooks, monitor: monitor) }
        let chosen = try layers.isAll ? harvested.sorted() : layers.layers(of: (harvested.max() ?? -1) + 1, frontEnd)
        for l in chosen where !harvested.contains(l) {
            throw AnalysisError.invalid("\(frontEnd.name(LayerSelection.field)): \(activations) holds no MLP input and output of layer \(l) (it has layers \(harvested.sorted().map(String.init).joined(separator: ",")))")
        }
        let backend = try model.makeBackend(manyPasses: false, frontEnd)
        var result = TranscoderTrainResult(out: out, layers: [])
        for l in chosen {
            let inputHook = MLPTranscoderHooks.inputs(l).first(where: hooks.contains)!
            let input = try HarvestedActivations(directory: activations, hook: inputHook)
            let target = try HarvestedActivations(directory: activations, hook: MLPTranscoderHooks.output(l))
            result.layers.append(try train(layer: l, input: input, target: target, backend: backend, monitor: monitor))
        }
        return result
    }

    func train(layer l: Int, input: HarvestedActivations, target: HarvestedActivations, backend: any Backend,
               monitor: AnalysisMonitor) throws -> TranscoderTrainResult.Layer {
        let f = frontEnd
        let dir = folder(layer: l)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let checkpoint = (dir as NSString).appendingPathComponent("checkpoint.safetensors")
        let source = try training.trainingRows(input, f)
        let targets = try training.trainingRows(target, f)
        let trainer: SAETrainer
        if try TrainingRun.fileExists(checkpoint) {
            guard resume else {
                throw AnalysisError.invalid("\(checkpoint) exists: pass \(f.name(Self.resume)) to continue it, or another \(f.name(Self.out))")
            }
            trainer = try SAETrainer.resume(checkpoint: checkpoint, source: source, targets: targets, backend: backend)
            try TrainingRun.checkResume(trainer, training: training, activations: activations, rows: source.rowCount, folder: dir,
                                        skip: (skip, Self.skip), f)
            if trainer.isFinished, FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("params.safetensors")) {
                f.notice("layer \(l): done (\(dir))")
                return .init(layer: l, folder: dir, done: true, step: trainer.step, totalSteps: trainer.totalSteps, lastBatch: nil,
                             deadFraction: trainer.deadFraction, trainedTokens: 0, seconds: 0)
            }
        } else {
            var settings = training.settings(inputWidth: source.width)
            settings.transcoder = true
            settings.skipConnection = skip
            try training.checkMemory(inputWidth: source.width, skip: skip, f)
            trainer = try SAETrainer(settings: settings, source: source, targets: targets, backend: backend)
            try TrainingRun(activations: activations, rows: source.rowCount).save(folder: dir)
        }
        let s = trainer.settings
        TrainingRun.warnAboutPasses(tokens: s.tokens, rows: source.rowCount, held: input.rowCount - source.rowCount, f)
        f.notice("layer \(l): \(s.architecture.rawValue) transcoder \(source.width) → \(s.width)"
                 + (s.skipConnection ? " + skip" : "") + " on \(source.rowCount) rows; step \(trainer.step) of \(trainer.totalSteps)")
        let loop = TrainingLoop(trainer: trainer, out: dir, checkpoint: checkpoint, checkpointEvery: training.checkpointEvery, frontEnd: f)
        let (last, seconds, trained) = try loop.run(resumed: trainer.step > 0, title: "layer \(l) transcoder, \(s.width) latents",
                                                    subject: "layer \(l)", monitor: monitor)
        try exportTranscoder(trainer, layer: l, inputHook: input.hook, to: dir, modelName: input.modelName, l0: last?.l0)
        if let last {
            f.notice(String(format: "layer %d: last batch FVU %.3f, L0 %.1f, dead %.1f%%; %d tokens in %.0fs",
                            l, last.reconstructionLoss, last.l0, trainer.deadFraction * 100, trained, seconds))
        }
        return .init(layer: l, folder: dir, done: false, step: trainer.step, totalSteps: trainer.totalSteps,
                     lastBatch: last.map(SAETrainResult.Batch.init), deadFraction: trainer.deadFraction, trainedTokens: trained, seconds: seconds)
    }

    /// The trained transcoder with its normalisation folded in, as Gemma Scope 2 stores one (f16).
    func exportTranscoder(_ trainer: SAETrainer, layer l: Int, inputHook: String, to dir: String, modelName: String, l0: Double?) throws {
        let s = trainer.settings, d = trainer.parameters.inputWidth
        let folded = FoldedTranscoder(trainer.parameters)
        let activation: SAEActivation = switch s.architecture {
        case .topk: .topK(s.k)
        case .jumprelu: .jumpReLU
        case .relu: .relu
        }
        let config = TranscoderConfig(dIn: d, dSAE: s.width, dOut: d, activation: activation,
                                      inputHook: inputHook, outputHook: MLPTranscoderHooks.output(l))
        let weights = TranscoderWeights(wEnc: folded.wEnc, wDec: folded.wDec, bEnc: folded.bEnc, bDec: folded.bDec,
                                        threshold: folded.threshold, skip: folded.skip)
        try GemmaScope2.writeTranscoder(
            config: config, weights: weights,
            // The registry's name for a model from the cache, not this machine's path to it.
            modelName: ModelStore.known.first { modelName.hasSuffix("/" + $0.fileName) }?.name ?? modelName,
            l0: l0, dtype: .f16,
            training: ["tokens": s.tokens, "batch_size": s.batchSize, "learning_rate": Double("\(s.learningRate)") ?? 0,
                       "seed": Int(s.seed), "normalization": s.normalization.rawValue, "rows": trainer.source.rowCount,
                       "activations": (activations as NSString).lastPathComponent, "trainer": "lantern transcoder train"],
            to: dir)
    }
}

/// Activations are only meaningful for the model that made them: a transcoder trained on another
/// model's harvest loads and runs (the widths may even agree) but reads nothing real. A `--model`
/// given to a training job must therefore be the harvest's own.
enum HarvestModelCheck {
    /// A model's name for comparison: the registry's name of a cached file, else the file or
    /// folder name (a harvest copied to another machine records the other machine's path).
    static func identity(_ path: String) -> String {
        let file = (path as NSString).lastPathComponent
        if let known = ModelStore.known.first(where: { $0.fileName == file || $0.name == file }) { return known.name }
        return file.hasSuffix(".gguf") ? (file as NSString).deletingPathExtension : file
    }

    static func check(requested: String?, harvested: String, manifest: String, option: String) throws {
        guard let requested else { return }
        // Where the request's model lives (nothing is fetched: a model never fetched cannot have
        // made the harvest); a name that resolves nowhere is compared as written.
        let location = (try? ModelStore().resolve(requested, fetch: false))?.path ?? requested
        func standard(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
        guard standard(location) != standard(harvested), identity(location) != identity(harvested) else { return }
        throw LanternError.badFile(path: manifest, field: "model",
                                   problem: "the activations were harvested from \(identity(harvested)) (\(harvested)), but \(option) is \(identity(location)) (\(location)): harvest this model's activations, or leave out \(option)")
    }
}

/// What a transcoder run did, layer by layer.
public struct TranscoderTrainResult: Codable, Sendable {
    public struct Layer: Codable, Sendable {
        public var layer: Int
        public var folder: String
        /// The layer had finished before this run (kept as it was).
        public var done: Bool
        public var step: Int
        public var totalSteps: Int
        public var lastBatch: SAETrainResult.Batch?
        public var deadFraction: Double
        public var trainedTokens: Int
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case layer, folder, done, step, seconds
            case totalSteps = "total_steps", lastBatch = "last_batch", deadFraction = "dead_fraction", trainedTokens = "trained_tokens"
        }
    }

    public var out: String
    public var layers: [Layer]
    /// One cross-layer transcoder in `out` (each layer's entry is its part of it).
    public var crossLayer = false

    enum CodingKeys: String, CodingKey {
        case out, layers
        case crossLayer = "cross_layer"
    }
}
