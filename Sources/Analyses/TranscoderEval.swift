import Foundation
import Lantern
import Training

/// How well a set of MLP transcoders stands in for the MLPs (`lantern transcoder eval`): the FVU
/// of each MLP's output, and the next-token CE with every MLP (and, with `each`, each one alone)
/// replaced. Loads its own model; reads the default corpus's held-out documents unless given a
/// corpus (text the transcoders were not trained on).
public struct TranscoderEvalRequest: JobRequest {
    public static let name = "transcoder eval"
    public static let summary = "FVU of each MLP's output, and next-token CE with every MLP (and, with each, each one) replaced by its transcoder."
    public static let transcoders = Field("transcoders", .strings, "Transcoder folders, or folders of them, or one cross-layer transcoder folder.")
    public static let tokens = Field("tokens", .integer(1...JobFields.maxCount), default: "4096", "Tokens to evaluate (in contexts of --context).")
    public static let context = Field("context", .integer(2...1 << 20), default: "128", "Tokens per context, BOS included.")
    public static let each = Field("each", .boolean, default: "false",
                                   "Also replace (and zero) each layer alone: two more forward passes per layer.")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens, transcoders, tokens, context, each]

    public var model: JobModel
    /// The files to read; none: the default corpus's held-out documents.
    public var corpus: CorpusSource
    public var transcoders: [String]
    public var tokens: Int
    public var context: Int
    public var each: Bool
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), transcoders: [String], tokens: Int = 4096,
                context: Int = 128, each: Bool = false) {
        self.model = model
        self.corpus = corpus
        self.transcoders = transcoders
        self.tokens = tokens
        self.context = context
        self.each = each
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json),
                  transcoders: try JobFields.required(try json.strings(Self.transcoders), Self.transcoders),
                  tokens: try json.int(Self.tokens) ?? 4096, context: try json.int(Self.context) ?? 128, each: try json.bool(Self.each) ?? false)
    }

    public func validate() throws {
        try frontEnd.check(tokens, Self.tokens)
        try frontEnd.check(context, Self.context)
        if transcoders.isEmpty {
            throw AnalysisError.invalid("give \(frontEnd.name(Self.transcoders)) FOLDER ... (transcoder folders, or folders holding them)")
        }
    }

    public func run(monitor: AnalysisMonitor) throws -> TranscoderEvalResult {
        let loaded = try model.load(manyPasses: true, frontEnd)
        let evaluator: TranscoderEvaluator
        if transcoders.count == 1, GemmaScope2.isCrossLayerFolder(transcoders[0]) {
            let clt = try GemmaScope2.loadCrossLayerTranscoder(directory: transcoders[0], backend: loaded.backend)
            evaluator = try TranscoderEvaluator(model: loaded.transformer, crossLayer: clt, each: each)
        } else {
            let set = try transcoders.flatMap(TranscoderFolders.folders).map { try GemmaScope2.loadTranscoder(directory: $0, backend: loaded.backend) }
            evaluator = try TranscoderEvaluator(model: loaded.transformer, transcoders: set, each: each)
        }
        var source = corpus
        source.notice = frontEnd.notice
        let files = source.files.isEmpty ? try DefaultCorpus.heldOut(notice: frontEnd.notice) : source.files
        let packer = try source.packer(for: loaded, length: context, files: files)
        let contexts = (tokens + context - 2) / (context - 1)
        var done = 0
        try packer.forEachContext { _, ids in
            try evaluator.evaluate(ids)
            done += 1
            try monitor.step(done, of: contexts, JobProgress.label("transcoder eval", "\(done * (context - 1)) tokens"))
            return done < contexts
        }
        guard done > 0 else { throw AnalysisError.invalid("the corpus gave no context of \(context) tokens") }
        let r = evaluator.report
        guard r.tokens > 0 else { throw LanternError.invalidArgument("transcoder eval: no tokens were evaluated") }
        return TranscoderEvalResult(r, contexts: done, context: context)
    }
}

/// The figures under the names `transcoder eval --json` prints; `report` and `contexts` keep the
/// numbers for the table.
public struct TranscoderEvalResult: Encodable, Sendable {
    public struct Layer: Encodable, Sendable {
        public var layer: Int
        public var width: Int
        public var fvu: Double
        public var l0: Double
        public var dead: Int
        /// With `each`: CE with only this MLP replaced, with only it zeroed, and the score.
        public var ceReplaced: Double?
        public var ceZero: Double?
        public var ceLossScore: Double?
        /// CE with only this MLP replaced − CE clean (nats).
        public var ceLossIncrease: Double?

        enum CodingKeys: String, CodingKey {
            case layer, width, fvu, l0, dead
            case ceReplaced = "ce_replaced", ceZero = "ce_zero", ceLossScore = "ce_loss_score", ceLossIncrease = "ce_loss_increase"
        }
    }

    public var tokens: Int
    public var ceClean: Double
    public var ceAllReplaced: Double
    public var ceAllZero: Double
    public var ceLossScoreAll: Double
    /// CE with every MLP replaced − CE clean (nats), and as a percentage of CE clean.
    public var ceLossIncreaseAll: Double
    public var ceLossIncreasePercentAll: Double
    public var layers: [Layer]
    public let report: TranscoderReport
    /// Contexts evaluated, and their length.
    public let contexts: Int
    public let context: Int

    init(_ r: TranscoderReport, contexts: Int, context: Int) {
        tokens = r.tokens
        ceClean = r.ceClean
        ceAllReplaced = r.ceAllReplaced
        ceAllZero = r.ceAllZero
        ceLossScoreAll = r.ceScoreAll
        ceLossIncreaseAll = r.ceAllReplaced - r.ceClean
        ceLossIncreasePercentAll = 100 * (r.ceAllReplaced - r.ceClean) / r.ceClean
        layers = r.layers.map { m in
            Layer(layer: m.layer, width: m.width, fvu: m.fvu, l0: m.l0, dead: m.deadFeatures, ceReplaced: m.ceReplaced, ceZero: m.ceZero,
                  ceLossScore: m.ceScore(clean: r.ceClean), ceLossIncrease: m.ceReplaced.map { $0 - r.ceClean })
        }
        report = r
        self.contexts = contexts
        self.context = context
    }

    enum CodingKeys: String, CodingKey {
        case tokens, layers
        case ceClean = "ce_clean", ceAllReplaced = "ce_all_replaced", ceAllZero = "ce_all_zero", ceLossScoreAll = "ce_loss_score_all"
        case ceLossIncreaseAll = "ce_loss_increase_all", ceLossIncreasePercentAll = "ce_loss_increase_percent_all"
    }
}
