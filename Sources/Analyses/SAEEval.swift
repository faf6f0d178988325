import Foundation
import Lantern
import Training

/// An SAE's dark matter on texts: the SAE spliced into the model at its hook, per token and over
/// everything (L0, explained variance, cosine, ‖x−x̂‖/‖x‖, next-token CE clean / SAE spliced /
/// zero-ablated, dead and dense features). BOS positions are neither replaced nor counted unless
/// `include_bos`.
public struct SAEEvalRequest: AnalysisRequest {
    public static let name = "sae eval"
    public static let summary = "An SAE's dark matter on texts: L0, explained variance, cosine, ‖x−x̂‖/‖x‖ and next-token CE clean / SAE spliced / zero-ablated, per token and overall."
    public static let sae = FeaturesRequest.sae
    /// Several texts as token ids: objects, so that each text keeps its own boundaries.
    public static let texts = Field("texts", .objects([.tokenIDs]),
                                    "Texts to evaluate together, each {\"token_ids\": [...]} (instead of prompt or token_ids).")
    public static let includeBOS = Field("include_bos", .boolean, default: "false", "Count and splice BOS positions too.")
    public static let denseThreshold = Field("dense_threshold", .number(0...1), default: "0.1",
                                             "A feature is dense when it fires on more than this fraction of tokens.")
    public static let fields = [Field.prompt, .tokenIDs, texts, sae, includeBOS, denseThreshold]

    /// One text; `texts` holds several instead.
    public var prompt: PromptInput?
    public var texts: [[Int]]?
    public var sae: Int?
    public var includeBOS = false
    public var denseThreshold = 0.1

    public init(prompt: PromptInput? = nil, texts: [[Int]]? = nil, sae: Int? = nil, includeBOS: Bool = false, denseThreshold: Double = 0.1) {
        self.prompt = prompt
        self.texts = texts
        self.sae = sae
        self.includeBOS = includeBOS
        self.denseThreshold = denseThreshold
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        try json.refusePath(Self.sae)
        prompt = try json.prompt()
        texts = try json.objects(Self.texts).map { objects in
            try objects.map { object in
                try object.requireKnown([.tokenIDs])
                return try object.ints(.tokenIDs) ?? []
            }
        }
        sae = try json.int(Self.sae)
        includeBOS = try json.bool(Self.includeBOS) ?? false
        denseThreshold = try json.double(Self.denseThreshold) ?? denseThreshold
    }

    public func validate(against context: AnalysisContext) throws {
        _ = try context.sae(sae, Self.sae)
        try context.check(denseThreshold, Self.denseThreshold)
        // Every feature fires on more than 0% of tokens or never: a threshold of 0 says nothing.
        guard denseThreshold > 0 else {
            throw AnalysisError.invalid("\(context.name(Self.denseThreshold)) must be a finite number > 0 and ≤ 1, got 0")
        }
        if prompt != nil && texts != nil {
            throw AnalysisError.invalid("give \(context.name(Field.prompt)) or \(context.name(Field.tokenIDs)) (one text) or \(context.name(Self.texts)), not both")
        }
        if let texts, texts.isEmpty { throw AnalysisError.invalid("\(context.name(Self.texts)) holds no text") }
    }

    /// The texts' ids: the one prompt, or each of `texts`.
    func documents(_ context: AnalysisContext) throws -> [[Int32]] {
        guard let texts else { return [try context.tokens(prompt)] }
        return try texts.map { try context.tokens(.ids($0), text: Self.texts, ids: Self.texts) }
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> SAEEvalResult {
        let loaded = try context.sae(sae, Self.sae)
        let documents = try documents(context)
        let evaluator = try SAEEvaluator(model: context.transformer, sae: loaded, includeBOS: includeBOS, denseThreshold: denseThreshold)
        var perToken: [[TokenMetrics]] = []
        for (i, document) in documents.enumerated() {
            perToken.append(try evaluator.evaluate(document))
            try monitor.step(i + 1, of: documents.count, "sae eval")
        }
        let overall = evaluator.overall
        guard overall.tokens > 0 else {
            throw AnalysisError.invalid("sae eval: no tokens to evaluate (\(includeBOS ? "the texts are empty" : "the texts hold only BOS, which is left out without \(context.name(Self.includeBOS))"))")
        }
        return SAEEvalResult(sae: loaded.source, hook: loaded.hookName, overall: .init(overall),
                             texts: perToken.map { $0.map { SAEEvalResult.Token($0, text: context.model.display($0.token)) } },
                             metrics: overall, perToken: perToken, dSAE: loaded.dSAE)
    }

    /// The texts `files` hold, as `sae eval --corpus` and `sae sweep --corpus` read them: one text
    /// per file, cut at the model's context; for a model without a tokenizer, one text per line of
    /// comma-separated token ids.
    public static func documents(_ files: [String], for loaded: LanternModel) throws -> [[Int32]] {
        let context = loaded.config.contextLength
        return try files.flatMap { path -> [[Int32]] in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw LanternError.badFile(path: path, field: "file", problem: "cannot read")
            }
            let text = String(decoding: data, as: UTF8.self)
            if loaded.tokenizer != nil { return [Array(try loaded.encode(text).prefix(context))] }
            return try text.split(separator: "\n").map { line in
                let parts = line.split(separator: ",", omittingEmptySubsequences: false).map { Int32($0.trimmingCharacters(in: .whitespaces)) }
                guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
                    throw LanternError.invalidArgument("\(path) must be comma-separated integers, got '\(line)'")
                }
                return Array(parts.map { $0! }.prefix(context))
            }
        }
    }
}

/// The evaluation under SAELens's names: the overall figures and each text's per-token figures.
/// `metrics` and `perToken` keep the numbers for the CLI's table and page.
public struct SAEEvalResult: Encodable, Sendable {
    public struct Overall: Encodable, Sendable {
        public var tokens: Int
        public var l0: Double
        public var explainedVariance: Double
        public var cosine: Double
        public var relativeError: Double
        public var ceClean: Double
        public var ceSAE: Double
        public var ceZeroAblated: Double
        public var ceLossScore: Double
        /// CE_sae − CE_clean (nats), and as a percentage of CE_clean.
        public var ceLossIncrease: Double
        public var ceLossIncreasePercent: Double
        public var deadFeatures: Int
        public var denseFeatures: Int
        public var denseThreshold: Double

        init(_ o: OverallMetrics) {
            tokens = o.tokens
            l0 = o.l0
            explainedVariance = o.explainedVariance
            cosine = o.cosine
            relativeError = o.relativeError
            ceClean = o.ceClean
            ceSAE = o.ceSAE
            ceZeroAblated = o.ceZero
            ceLossScore = o.ceScore
            ceLossIncrease = o.lossIncrease
            ceLossIncreasePercent = o.lossIncreasePercent
            deadFeatures = o.deadFeatures
            denseFeatures = o.denseFeatures
            denseThreshold = o.denseThreshold
        }

        enum CodingKeys: String, CodingKey {
            case tokens, l0, cosine
            case explainedVariance = "explained_variance", relativeError = "relative_error", ceClean = "ce_clean", ceSAE = "ce_sae"
            case ceZeroAblated = "ce_zero_ablated", ceLossScore = "ce_loss_score", deadFeatures = "dead_features"
            case ceLossIncrease = "ce_loss_increase", ceLossIncreasePercent = "ce_loss_increase_percent"
            case denseFeatures = "dense_features", denseThreshold = "dense_threshold"
        }
    }

    /// One evaluated token; the cross-entropies are absent at a text's last position (no next token).
    public struct Token: Encodable, Sendable {
        public var position: Int
        public var id: Int
        public var text: String
        public var l0: Int
        public var explainedVariance: Double
        public var cosine: Double
        public var relativeError: Double
        public var ceClean: Double?
        public var ceSAE: Double?
        public var ceZeroAblated: Double?

        init(_ m: TokenMetrics, text: String) {
            position = m.position
            id = Int(m.token)
            self.text = text
            l0 = m.l0
            explainedVariance = m.explainedVariance
            cosine = m.cosine
            relativeError = m.relativeError
            // The three together or none, as one forward pass each gives them.
            if let c = m.ceClean, let s = m.ceSAE, let z = m.ceZero { (ceClean, ceSAE, ceZeroAblated) = (c, s, z) }
        }

        enum CodingKeys: String, CodingKey {
            case position, id, text, l0, cosine
            case explainedVariance = "explained_variance", relativeError = "relative_error", ceClean = "ce_clean", ceSAE = "ce_sae"
            case ceZeroAblated = "ce_zero_ablated"
        }
    }

    public var sae: String
    public var hook: String
    public var overall: Overall
    public var texts: [[Token]]
    public let metrics: OverallMetrics
    public let perToken: [[TokenMetrics]]
    public let dSAE: Int

    enum CodingKeys: String, CodingKey { case sae, hook, overall, texts }
}

/// `sae eval --activations`: the figures that need many tokens (dead and dense latents over a
/// million rows, say) from harvested activations, without running the model: L0, explained
/// variance and how often each latent fires.
public struct SAERowsEvalRequest: JobRequest {
    public static let name = "sae eval"
    public static let summary = "An SAE over harvested activations (no forward pass): L0, explained variance, dead and dense latents, each latent's firing frequency."
    public static let sae = Field("sae", .string(choices: []),
                                  "A Gemma Scope params.npz (or its directory), a Gemma Scope 2 folder or a SAELens directory.")
    public static let hook = Field("hook", .string(choices: []), "The hook the SAE reads, overriding its own.")
    public static let activations = Field("activations", .string(choices: []), "A directory `lantern harvest` wrote.")
    public static let rows = Field("rows", .integer(1...JobFields.maxCount), "Evaluate the first N rows (default: all).")
    public static let denseThreshold = SAEEvalRequest.denseThreshold
    public static let fields = [JobModel.backend, JobModel.verbose, sae, hook, activations, rows, denseThreshold]

    public var backend: JobModel
    public var sae: String
    public var hook: String?
    public var activations: String
    public var rows: Int?
    public var denseThreshold: Double
    public var frontEnd = JobFrontEnd()

    public init(backend: JobModel = JobModel(), sae: String, hook: String? = nil, activations: String, rows: Int? = nil,
                denseThreshold: Double = 0.1) {
        self.backend = backend
        self.sae = sae
        self.hook = hook
        self.activations = activations
        self.rows = rows
        self.denseThreshold = denseThreshold
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(backend: JobModel(backend: try json.string(JobModel.backend).flatMap(BackendKind.init(rawValue:)) ?? .auto,
                                    verbose: try json.bool(JobModel.verbose) ?? false),
                  sae: try JobFields.required(try json.string(Self.sae), Self.sae), hook: try json.string(Self.hook),
                  activations: try JobFields.required(try json.string(Self.activations), Self.activations),
                  rows: try json.int(Self.rows), denseThreshold: try json.double(Self.denseThreshold) ?? 0.1)
    }

    public func validate() throws {
        try frontEnd.check(rows, Self.rows)
        try frontEnd.check(denseThreshold, Self.denseThreshold, above: true)
    }

    public func run(monitor: AnalysisMonitor) throws -> SAERowsEvalResult {
        let source = try HarvestedActivations(directory: activations)
        let loaded = try SAE.load(path: sae, backend: try backend.makeBackend(manyPasses: false, frontEnd), hook: hook)
        guard source.hook == loaded.hookName, source.width == loaded.dIn else {
            throw AnalysisError.invalid("\(activations) holds \(source.hook) (width \(source.width)); \(loaded.source) reads \(loaded.hookName) (width \(loaded.dIn))")
        }
        let total = min(rows ?? source.rowCount, source.rowCount)
        var stats = SAERowStatistics(dIn: loaded.dIn, dSAE: loaded.dSAE)
        for start in stride(from: 0, to: total, by: 4096) {
            try stats.add(try source.rows(Array(start..<min(total, start + 4096))), sae: loaded)
            try monitor.step(stats.rows, of: total, "sae eval")
        }
        guard stats.rows > 0 else { throw LanternError.invalidArgument("sae eval: \(activations) holds no activation rows to evaluate") }
        return SAERowsEvalResult(sae: loaded.source, hook: loaded.hookName, activations: activations, rows: stats.rows, l0: stats.l0,
                                 explainedVariance: stats.explainedVariance, deadFeatures: stats.dead,
                                 denseFeatures: stats.dense(threshold: denseThreshold), denseThreshold: denseThreshold,
                                 dSAE: loaded.dSAE, featureFrequency: stats.frequency)
    }
}

public struct SAERowsEvalResult: Encodable, Sendable {
    public var sae: String
    public var hook: String
    public var activations: String
    public var rows: Int
    public var l0: Double
    public var explainedVariance: Double
    public var deadFeatures: Int
    public var denseFeatures: Int
    public var denseThreshold: Double
    public var dSAE: Int
    /// The fraction of rows each latent fired on.
    public var featureFrequency: [Double]

    enum CodingKeys: String, CodingKey {
        case sae, hook, activations, rows, l0
        case explainedVariance = "explained_variance", deadFeatures = "dead_features", denseFeatures = "dense_features"
        case denseThreshold = "dense_threshold", dSAE = "d_sae", featureFrequency = "feature_frequency"
    }
}
