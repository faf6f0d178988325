import Foundation
import Lantern

/// A feature's or neuron's dashboard as JSON: summary, logit effects, histogram of nonzero
/// activations, top contexts. The key of the unit's id is its kind ("feature", "neuron").
public struct DashboardJSON: Encodable, Sendable {
    public struct Token: Codable, Sendable {
        public var id: Int
        public var text: String
        public var logit: Double
    }
    public struct Logits: Codable, Sendable {
        public var positive: [Token]
        public var negative: [Token]
        public var direction: String
        public var finalNorm: String
        public var softcap: Bool
        enum CodingKeys: String, CodingKey { case positive, negative, direction, softcap, finalNorm = "final_norm" }
    }
    public struct Histogram: Codable, Sendable {
        public var lower: Double
        public var upper: Double
        public var counts: [Int]
        public var sampled: Bool
    }
    public struct Example: Codable, Sendable {
        public var context: Int
        public var position: Int
        public var windowStart: Int
        public var maxActivation: Double
        public var tokens: [Int]
        public var text: [String]
        public var activations: [Double]
        enum CodingKeys: String, CodingKey {
            case context, position, tokens, text, activations, windowStart = "window_start", maxActivation = "max_activation"
        }
    }

    public let unitName: String
    public var unit: Int
    public var density: Double
    public var firing: Int
    public var tokens: Int
    public var maxActivation: Double
    public var meanActivation: Double
    public var directionNorm: Double
    public var logits: Logits
    public var histogram: Histogram
    public var examples: [Example]

    public init(_ d: FeatureDashboard, model: LanternModel) {
        func shown(_ list: [TokenLogit]) -> [Token] { list.map { Token(id: Int($0.token), text: model.display($0.token), logit: Double($0.logit)) } }
        unitName = d.unitName
        unit = d.feature
        density = d.summary.density
        firing = d.summary.firing
        tokens = d.summary.tokens
        maxActivation = Double(d.summary.maxActivation)
        meanActivation = d.summary.meanActivation
        directionNorm = Double(d.directionNorm)
        logits = Logits(positive: shown(d.logits.positive), negative: shown(d.logits.negative), direction: d.directionFormula,
                        finalNorm: "gain only (fold_ln)", softcap: false)
        histogram = Histogram(lower: Double(d.histogram.lower), upper: Double(d.histogram.upper), counts: d.histogram.counts, sampled: d.histogram.sampled)
        examples = d.examples.map { e in
            Example(context: e.context, position: e.position, windowStart: e.windowStart, maxActivation: Double(e.maxActivation),
                    tokens: e.tokens.map(Int.init), text: e.tokens.map(model.display), activations: e.activations.map(Double.init))
        }
    }

    typealias Key = AnyKey

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.encode(unit, forKey: AnyKey(unitName))
        try c.encode(density, forKey: AnyKey("density"))
        try c.encode(firing, forKey: AnyKey("firing"))
        try c.encode(tokens, forKey: AnyKey("tokens"))
        try c.encode(maxActivation, forKey: AnyKey("max_activation"))
        try c.encode(meanActivation, forKey: AnyKey("mean_activation"))
        // An SAE feature's direction is its decoder row; a neuron's its column of the MLP's output.
        try c.encode(directionNorm, forKey: AnyKey(unitName == "feature" ? "decoder_norm" : "direction_norm"))
        try c.encode(logits, forKey: AnyKey("logits"))
        try c.encode(histogram, forKey: AnyKey("histogram"))
        try c.encode(examples, forKey: AnyKey("examples"))
    }
}

/// The corpus scan a dashboard reads, and where it came from ("corpus scan", "background scan",
/// "on demand").
public struct ScanSource: @unchecked Sendable {
    public var scan: FeatureScan
    public var source: String
    public init(scan: FeatureScan, source: String) {
        self.scan = scan
        self.source = source
    }
}

/// One SAE feature's dashboard over the corpus scan the context holds for that SAE.
public struct FeatureDashboardRequest: AnalysisRequest {
    public static let name = "feature"
    public static let summary = "One SAE feature's dashboard over a corpus scan: density, logit effects (W_dec·W_U), histogram, top contexts."
    public static let sae = FeaturesRequest.sae
    public static let feature = Field("feature", flag: "--id", .integer(0...Int(Int32.max)), "The feature.")
    public static let fields = [sae, feature]

    public var sae: Int?
    public var feature: Int?

    public init(sae: Int? = nil, feature: Int) {
        self.sae = sae
        self.feature = feature
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        try json.refusePath(Self.sae)
        sae = try json.int(Self.sae)
        feature = try json.int(Self.feature)
    }

    public func validate(against context: AnalysisContext) throws {
        let loaded = try context.sae(sae, Self.sae)
        guard let feature else { throw AnalysisError.invalid("give \(context.name(Self.feature)), an integer in 0...\(loaded.dSAE - 1)") }
        guard (0..<loaded.dSAE).contains(feature) else {
            throw AnalysisError.invalid("\(context.name(Self.feature)): feature \(feature) is out of range: the SAE has \(loaded.dSAE) features (0...\(loaded.dSAE - 1))")
        }
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> FeatureDashboardResult {
        guard let scan = context.featureScan(sae ?? 0) else {
            throw AnalysisError(.notFound, "no corpus scan of the SAE's features to read the dashboard from")
        }
        return try run(on: context, scan: ScanSource(scan: scan, source: context.scanSource))
    }

    /// The dashboard over `scanned` (the server's on-demand scan while its background scan runs).
    public func run(on context: AnalysisContext, scan scanned: ScanSource) throws -> FeatureDashboardResult {
        let loaded = try context.sae(sae, Self.sae)
        let dashboard = try FeatureDashboard(feature: feature!, scan: scanned.scan, sae: loaded, model: context.transformer)
        return FeatureDashboardResult(sae: loaded.source, hook: loaded.hookName, dashboard: DashboardJSON(dashboard, model: context.model),
                                      source: scanned.source, scannedTokens: scanned.scan.tokens, value: dashboard)
    }
}

public struct FeatureDashboardResult: Encodable, Sendable {
    public var sae: String
    public var hook: String
    public var dashboard: DashboardJSON
    public var source: String
    public var scannedTokens: Int
    /// The dashboard's numbers, for the CLI's text and page.
    public let value: FeatureDashboard
    enum CodingKeys: String, CodingKey { case sae, hook, dashboard, source, scannedTokens = "scanned_tokens" }
}

/// One MLP neuron's dashboard (a column of blocks.L.mlp.hook_post) over the corpus scan the
/// context holds for that layer.
public struct NeuronDashboardRequest: AnalysisRequest {
    public static let name = "neuron"
    public static let summary = "One MLP neuron's dashboard (a column of blocks.L.mlp.hook_post) over a corpus scan: density, logit effects, histogram, top contexts."
    public static let layer = Field("layer", .integer(0...1_000_000), "The layer.")
    public static let neuron = Field("neuron", flag: "--id", .integer(0...Int(Int32.max)), "The neuron.")
    public static let fields = [layer, neuron]

    public var layer: Int?
    public var neuron: Int?

    public init(layer: Int, neuron: Int) {
        self.layer = layer
        self.neuron = neuron
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        layer = try json.int(Self.layer)
        neuron = try json.int(Self.neuron)
    }

    public func validate(against context: AnalysisContext) throws {
        let layers = context.config.layerCount, width = context.config.intermediateSize
        guard let layer else { throw AnalysisError.invalid("give \(context.name(Self.layer)), an integer in 0...\(layers - 1)") }
        try context.check(layer, Self.layer, 0...(layers - 1))
        guard let neuron else { throw AnalysisError.invalid("give \(context.name(Self.neuron)), an integer in 0...\(width - 1)") }
        guard (0..<width).contains(neuron) else {
            throw AnalysisError.invalid("\(context.name(Self.neuron)): neuron \(neuron) is out of range: layer \(layer) has \(width) neurons (0...\(width - 1))")
        }
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> NeuronDashboardResult {
        guard let (units, scanned) = context.neuronScan(layer!) else {
            throw AnalysisError(.notFound, "no corpus scan of layer \(layer!)'s neurons to read the dashboard from")
        }
        return try run(on: context, units: units, scan: scanned)
    }

    /// The dashboard over `scanned`, a scan of `units` (the server's on-demand scan).
    public func run(on context: AnalysisContext, units: MLPNeurons, scan scanned: ScanSource) throws -> NeuronDashboardResult {
        let dashboard = try FeatureDashboard(unit: neuron!, scan: scanned.scan, units: units, model: context.transformer)
        return NeuronDashboardResult(hook: units.hookName, layer: units.layer, dashboard: DashboardJSON(dashboard, model: context.model),
                                     frozenNormScale: units.frozenScale, source: scanned.source, scannedTokens: scanned.scan.tokens, value: dashboard)
    }
}

public struct NeuronDashboardResult: Encodable, Sendable {
    public var hook: String
    public var layer: Int
    public var dashboard: DashboardJSON
    /// The scale the neuron's logit effects read the final norm at (absent when the scan had none).
    public var frozenNormScale: Double?
    public var source: String
    public var scannedTokens: Int
    /// With a companion SAE's scan (the CLI's --sae): which SAE, and how the neuron's top contexts
    /// split into its features.
    public var sae: String?
    public var polysemanticity: PolysemanticityJSON?
    public let value: FeatureDashboard
    enum CodingKeys: String, CodingKey {
        case hook, layer, dashboard, source, sae, polysemanticity, frozenNormScale = "frozen_norm_scale", scannedTokens = "scanned_tokens"
    }
}
