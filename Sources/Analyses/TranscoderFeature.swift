import Foundation
import Lantern

/// A transcoder feature's top corpus contexts, density and largest activation (the hovers of an
/// attribution graph's page), over a scan of the context's per-layer transcoders.
public struct TranscoderFeatureRequest: AnalysisRequest {
    public static let name = "transcoder-feature"
    public static let summary = "A transcoder feature's top corpus contexts, density, largest activation (the hovers of `lantern graph --contexts`) and logit effects."
    public static let layer = Field("layer", .integer(0...1_000_000), "The transcoder's layer.")
    public static let feature = Field("feature", .integer(0...Int(Int32.max)), "The feature.")
    public static let fields = [layer, feature]

    public var layer: Int?
    public var feature: Int?

    public init(layer: Int, feature: Int) {
        self.layer = layer
        self.feature = feature
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        layer = try json.int(Self.layer)
        feature = try json.int(Self.feature)
    }

    /// The per-layer transcoders the context holds (a cross-layer transcoder has no contexts here).
    static func transcoders(_ context: AnalysisContext) throws -> [Transcoder] {
        guard case let .perLayer(set)? = context.replacement?.transcoders else {
            throw AnalysisError(.notFound, "feature contexts need per-layer transcoders: \(context.noTranscoders)")
        }
        return set
    }

    public func validate(against context: AnalysisContext) throws {
        let set = try Self.transcoders(context)
        guard let layer else { throw AnalysisError.invalid("give \(context.name(Self.layer)), an integer in 0...\(set.count - 1)") }
        try context.check(layer, Self.layer, 0...(set.count - 1))
        guard let feature else { throw AnalysisError.invalid("give \(context.name(Self.feature)), an integer in 0...\(set[layer].dSAE - 1)") }
        try context.check(feature, Self.feature, 0...(set[layer].dSAE - 1))
    }

    /// The scan settings of the graph page's hovers: three contexts of twelve tokens before and three after.
    public static var scanOptions: FeatureScan.Options {
        var options = FeatureScan.Options()
        options.topExamples = 3
        options.before = 12
        options.after = 3
        return options
    }

    /// A scan of this request's transcoder, to fill with corpus contexts (the server adds one per job).
    public func scan(on context: AnalysisContext, bos: Int32?) throws -> TranscoderScan {
        TranscoderScan(transcoders: [try Self.transcoders(context)[layer!]], bos: bos, options: Self.scanOptions)
    }

    /// The feature's figures from `scan`, a scan of its transcoder alone.
    public func result(on context: AnalysisContext, scan: TranscoderScan) throws -> TranscoderFeatureResult {
        let summary = scan.scans[0].summary(feature!), transcoder = try Self.transcoders(context)[layer!]
        // The output direction read through the final norm's gain and the unembedding, as a dashboard's.
        let effects = try LogitEffects.of(direction: try transcoder.direction(feature!), model: context.transformer, count: 8)
        func shown(_ list: [TokenLogit]) -> [DashboardJSON.Token] {
            list.map { DashboardJSON.Token(id: Int($0.token), text: context.model.display($0.token), logit: Double($0.logit)) }
        }
        return TranscoderFeatureResult(layer: layer!, feature: feature!, source: transcoder.source,
                                       density: summary.density, maxActivation: Double(summary.maxActivation),
                                       scannedTokens: scan.scans[0].tokens,
                                       contexts: scan.contexts(layer: 0, feature: feature!, text: context.model.display),
                                       logits: .init(positive: shown(effects.positive), negative: shown(effects.negative)))
    }

    /// Scans the context's corpus contexts (`corpusContexts`), then reads the feature.
    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> TranscoderFeatureResult {
        guard let contexts = context.corpusContexts, !contexts.isEmpty else {
            throw AnalysisError(.notFound, "no corpus contexts to scan for the feature's top contexts")
        }
        let scan = try scan(on: context, bos: contexts[0].first)
        for (i, ids) in contexts.enumerated() {
            try scan.add(context: ids, model: context.transformer)
            try monitor.step(i + 1, of: contexts.count, "feature contexts")
        }
        return try result(on: context, scan: scan)
    }
}

public struct TranscoderFeatureResult: Codable, Sendable {
    public var layer: Int
    public var feature: Int
    public var source: String
    public var density: Double
    public var maxActivation: Double
    public var scannedTokens: Int
    /// "activation: text with the «maximum» marked", strongest first.
    public var contexts: [String]
    /// The tokens the feature's output direction raises and lowers most (W_dec[f] · W_U, through the final norm's gain).
    public var logits: Logits
    public struct Logits: Codable, Sendable {
        public var positive: [DashboardJSON.Token]
        public var negative: [DashboardJSON.Token]
    }
    enum CodingKeys: String, CodingKey {
        case layer, feature, source, density, contexts, logits, maxActivation = "max_activation", scannedTokens = "scanned_tokens"
    }
}
