import Foundation
import Lantern
import Training

/// SAE features ranked over a corpus scan (`lantern features top`), each with its dashboard:
/// by density, largest activation, or mean activation when firing. Loads its own model and SAE.
public struct FeaturesTopRequest: JobRequest {
    public static let name = "features top"
    public static let summary = "Rank SAE features over a corpus (by density, max or mean activation), each with its dashboard."
    public static let sae = Field("sae", .string(choices: []),
                                  "A Gemma Scope params.npz (or its directory), a Gemma Scope 2 folder (params.safetensors + config.json) or a SAELens directory (cfg.json + sae_weights.safetensors).")
    public static let hook = Field("hook", .string(choices: []), "The hook the SAE reads, overriding its own (e.g. blocks.20.hook_resid_post).")
    public static let by = Field("by", .string(choices: FeatureRanking.allCases.map(\.rawValue)), default: "density",
                                 "Order: density (fraction of tokens fired on), max (largest activation), mean (mean when firing).")
    public static let count = Field("count", .integer(1...1_000_000), default: "20", "How many features to list.")
    public static let maxDensity = Field("max_density", .number(0...1), default: "1",
                                         "Leave out features firing on more than this fraction of the scanned tokens (dense features), e.g. 0.1.")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens, sae, hook] + ScanSize.fields + [by, count, maxDensity]

    public var model: JobModel
    public var corpus: CorpusSource
    public var sae: String
    public var hook: String?
    public var size: ScanSize
    public var by: String
    public var count: Int
    public var maxDensity: Double
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), sae: String, hook: String? = nil, size: ScanSize = ScanSize(),
                by: String = "density", count: Int = 20, maxDensity: Double = 1) {
        self.model = model
        self.corpus = corpus
        self.sae = sae
        self.hook = hook
        self.size = size
        self.by = by
        self.count = count
        self.maxDensity = maxDensity
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json), sae: try JobFields.required(try json.string(Self.sae), Self.sae),
                  hook: try json.string(Self.hook), size: try ScanSize(json: json), by: try json.string(Self.by) ?? "density",
                  count: try json.int(Self.count) ?? 20, maxDensity: try json.double(Self.maxDensity) ?? 1)
    }

    public func validate() throws {
        try size.validate(frontEnd)
        try frontEnd.check(count, Self.count)
        try frontEnd.check(maxDensity, Self.maxDensity, above: true)
        guard FeatureRanking(rawValue: by) != nil else { throw AnalysisError.invalid("\(frontEnd.name(Self.by)) must be density, max or mean, got '\(by)'") }
    }

    public func run(monitor: AnalysisMonitor) throws -> FeaturesTopResult {
        let loaded = try model.load(manyPasses: true, frontEnd)
        let sae = try JobSAE.load(self.sae, hook: hook, hookField: Self.hook, loaded, frontEnd)
        let scan = try size.scanFeatures(of: sae, loaded, corpus: corpus, monitor: monitor, frontEnd)
        let ranked = scan.ranked(by: FeatureRanking(rawValue: by)!, count: count, maxDensity: maxDensity)
        let dashboards = try ranked.map { try FeatureDashboard(feature: $0.feature, scan: scan, sae: sae, model: loaded.transformer, logitCount: 5) }
        let fired = scan.ranked(by: .density, count: sae.dSAE)
        return FeaturesTopResult(sae: sae.source, hook: sae.hookName, tokens: scan.tokens, by: by,
                                 features: dashboards.map { DashboardJSON($0, model: loaded) }, model: loaded, loadedSAE: sae,
                                 dashboards: dashboards, fired: fired.count, denseLeftOut: fired.filter { $0.density > maxDensity }.count)
    }
}

/// The ranked features' dashboards; the model, the SAE and the dashboards' numbers stay for the
/// CLI's table and pages.
public struct FeaturesTopResult: Encodable {
    public var sae: String
    public var hook: String
    /// Tokens scanned (BOS left out).
    public var tokens: Int
    public var by: String
    public var features: [DashboardJSON]
    public let model: LanternModel
    public let loadedSAE: SAE
    public let dashboards: [FeatureDashboard]
    /// Features that fired at all, and those of them left out as denser than `max_density`.
    public let fired: Int
    public let denseLeftOut: Int

    enum CodingKeys: String, CodingKey { case sae, hook, tokens, by, features }
}

/// One layer's MLP neurons ranked over a corpus scan (`lantern neurons top`), each with its
/// dashboard: by density, max, mean, or — with an SAE read on the same tokens — by how many
/// unrelated SAE features their top contexts split into (polysemantic; `Unrelatedness`).
public struct NeuronsTopRequest: JobRequest {
    public static let name = "neurons top"
    public static let summary = "Rank one layer's MLP neurons over a corpus (by density, max, mean, or polysemantic with an SAE), each with its dashboard."
    public static let layer = Field("layer", .integer(0...1 << 20), "The MLP layer: its neurons are the columns of blocks.LAYER.mlp.hook_post.")
    public static let sae = Field("sae", .string(choices: []),
                                  "An SAE (Gemma Scope params.npz or SAELens directory) read at its own hook on the same contexts: groups each neuron's top contexts by SAE feature (polysemanticity).")
    public static let maxDensity = Field("max_density", .number(0...1), default: "0.1",
                                         "Leave SAE features that fire on more than this fraction of the scanned tokens out of the grouping (dense features).")
    public static let by = Field("by", .string(choices: FeatureRanking.allCases.map(\.rawValue) + ["polysemantic"]), default: "density",
                                 "Order: density, max, mean, or polysemantic (the number of unrelated SAE features the top contexts split into: the effective number with related features counted as one; needs --sae).")
    public static let count = Field("count", .integer(1...1_000_000), default: "20", "How many neurons to list.")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens, layer, sae, maxDensity] + ScanSize.fields + [by, count]

    public var model: JobModel
    public var corpus: CorpusSource
    public var layer: Int
    public var sae: String?
    public var maxDensity: Double
    public var size: ScanSize
    public var by: String
    public var count: Int
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), layer: Int, sae: String? = nil, maxDensity: Double = 0.1,
                size: ScanSize = ScanSize(), by: String = "density", count: Int = 20) {
        self.model = model
        self.corpus = corpus
        self.layer = layer
        self.sae = sae
        self.maxDensity = maxDensity
        self.size = size
        self.by = by
        self.count = count
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json),
                  layer: try JobFields.required(try json.int(Self.layer), Self.layer), sae: try json.string(Self.sae),
                  maxDensity: try json.double(Self.maxDensity) ?? 0.1, size: try ScanSize(json: json), by: try json.string(Self.by) ?? "density",
                  count: try json.int(Self.count) ?? 20)
    }

    public func validate() throws {
        let f = frontEnd
        try f.check(layer, Self.layer)
        try f.check(maxDensity, Self.maxDensity, above: true)
        try size.validate(f)
        try f.check(count, Self.count)
        guard by == "polysemantic" || FeatureRanking(rawValue: by) != nil else {
            throw AnalysisError.invalid("\(f.name(Self.by)) must be density, max, mean or polysemantic, got '\(by)'")
        }
        if by == "polysemantic" && sae == nil {
            throw AnalysisError.invalid("\(f.name(Self.by)) polysemantic needs \(f.name(Self.sae)) (the features that group the top contexts)")
        }
    }

    public func run(monitor: AnalysisMonitor) throws -> NeuronsTopResult {
        let loaded = try model.load(manyPasses: true, frontEnd)
        let r = try size.scanNeurons(layer: layer, layerField: Self.layer, sae: sae, loaded, corpus: corpus, monitor: monitor, frontEnd)
        let ids: [Int], polys: [Polysemanticity?]
        if by == "polysemantic", let ranked = try r.mostPolysemantic(maxDensity: maxDensity, count: count) {
            (ids, polys) = (ranked.map(\.unit), ranked)
        } else {
            ids = r.scan.ranked(by: FeatureRanking(rawValue: by)!, count: count).map(\.feature)
            polys = try ids.map { try r.polysemanticity($0, maxDensity: maxDensity) }
        }
        let dashboards = try ids.map { try FeatureDashboard(unit: $0, scan: r.scan, units: r.neurons, model: loaded.transformer, logitCount: 5) }
        return NeuronsTopResult(hook: r.neurons.hookName, layer: r.neurons.layer, tokens: r.scan.tokens, by: by,
                                neurons: zip(dashboards, polys).map { d, p in
                                    .init(dashboard: DashboardJSON(d, model: loaded), polysemanticity: p.map { PolysemanticityJSON($0, notes: [:], model: loaded) })
                                },
                                frozenNormScale: r.neurons.frozenScale, sae: r.companion?.sae.source, scan: r, dashboards: dashboards, groupings: polys)
    }
}

/// The ranked neurons' dashboards, each with its polysemanticity when there is an SAE; the scan,
/// the dashboards' numbers and the groupings stay for the CLI's table and pages.
public struct NeuronsTopResult: Encodable {
    /// A dashboard's JSON with the neuron's grouping beside its keys.
    public struct Neuron: Encodable {
        public var dashboard: DashboardJSON
        public var polysemanticity: PolysemanticityJSON?

        enum CodingKeys: String, CodingKey { case polysemanticity }

        public func encode(to encoder: any Encoder) throws {
            // Both write into the same object: the dashboard's keys, then this one.
            try dashboard.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(polysemanticity, forKey: .polysemanticity)
        }
    }

    public var hook: String
    public var layer: Int
    public var tokens: Int
    public var by: String
    public var neurons: [Neuron]
    /// The scale the neurons' logit effects read the final norm at (absent when the scan had none).
    public var frozenNormScale: Double?
    /// The companion SAE, when there is one.
    public var sae: String?
    public let scan: NeuronScan
    public let dashboards: [FeatureDashboard]
    public let groupings: [Polysemanticity?]

    enum CodingKeys: String, CodingKey {
        case hook, layer, tokens, by, neurons, sae
        case frozenNormScale = "frozen_norm_scale"
    }
}
