import Foundation
import Lantern

/// The SAE features that fire on each token of a prompt, with L0 and the reconstruction error;
/// with a finished corpus scan of the SAE, each feature's density and label.
public struct FeaturesRequest: AnalysisRequest {
    public static let name = "features"
    public static let summary = "The SAE features on each token, with L0 and ‖x−x̂‖/‖x‖ (density and label once the SAE's corpus scan is done)."
    public static let sae = Field("sae", flag: "--sae", .integer(0...1_000_000), default: "0", "Index of the SAE (the server's --sae list; the CLI's one --sae).")
    public static let top = Field("top", .integer(1...1_000_000), limit: .topCount, default: "5", "How many features to list per token.")
    public static let maxDensity = Field("max_density", .number(0...1), default: "1", "Leave out features firing on more than this fraction of the scanned tokens (needs the scan).")
    public static let fields = [Field.prompt, .tokenIDs, sae, top, maxDensity]

    public var prompt: PromptInput?
    public var sae: Int?
    public var top = 5
    public var maxDensity = 1.0

    public init(prompt: PromptInput?, sae: Int? = nil, top: Int = 5, maxDensity: Double = 1) {
        self.prompt = prompt
        self.sae = sae
        self.top = top
        self.maxDensity = maxDensity
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        try json.refusePath(Self.sae)
        prompt = try json.prompt()
        sae = try json.int(Self.sae)
        top = try json.int(Self.top) ?? top
        maxDensity = try json.double(Self.maxDensity) ?? maxDensity
    }

    public func validate(against context: AnalysisContext) throws {
        _ = try context.sae(sae, Self.sae)
        try context.check(top, Self.top)
        try context.check(maxDensity, Self.maxDensity)
        guard maxDensity > 0 else { throw AnalysisError.invalid("\(context.name(Self.maxDensity)) must be above 0, got 0") }
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> FeaturesResult {
        let model = context.model
        let sae = try context.sae(self.sae, Self.sae)
        let ids = try context.tokens(prompt)
        let scan = context.featureScan(self.sae ?? 0)
        let dense = Set((0..<sae.dSAE).filter { (scan?.summary($0).density ?? 0) > maxDensity })
        let run = try sae.run(on: model.transformer, tokens: ids)
        let perToken = run.features(top: top, excluding: dense)
        return FeaturesResult(
            sae: sae.source, hook: sae.hookName, dSAE: sae.dSAE, denseLeftOut: dense.sorted(), scannedTokens: scan?.tokens,
            tokens: perToken.map { t in
                FeaturesResult.Token(position: t.position, id: Int(t.token), text: model.display(t.token), l0: t.l0,
                                     relativeError: Double(t.relativeError), features: t.top.map { f in
                    FeaturesResult.Feature(feature: f.feature, activation: Double(f.activation),
                                           density: scan.map { $0.summary(f.feature).density },
                                           label: scan.map { FeatureLabel.text(f.feature, scan: $0, model: model) })
                })
            }, run: run, perToken: perToken)
    }
}

public struct FeaturesResult: Encodable {
    public struct Feature: Codable, Sendable {
        public var feature: Int
        public var activation: Double
        /// Present once the SAE's corpus scan is done.
        public var density: Double?
        public var label: String?
    }
    public struct Token: Codable, Sendable {
        public var position: Int
        public var id: Int
        public var text: String
        public var l0: Int
        public var relativeError: Double
        public var features: [Feature]
        enum CodingKeys: String, CodingKey { case position, id, text, l0, relativeError = "relative_error", features }
    }
    public var sae: String
    public var hook: String
    public var dSAE: Int
    public var denseLeftOut: [Int]
    /// Corpus tokens behind the densities and labels (not in the JSON).
    public let scannedTokens: Int?
    public var tokens: [Token]
    /// The SAE's pass, for the CLI's page (not in the JSON).
    public let run: SAERun
    public let perToken: [TokenFeatures]

    enum CodingKeys: String, CodingKey { case sae, hook, dSAE = "d_sae", denseLeftOut = "dense_left_out", tokens }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sae, forKey: .sae)
        try c.encode(hook, forKey: .hook)
        try c.encode(dSAE, forKey: .dSAE)
        try c.encode(denseLeftOut, forKey: .denseLeftOut)
        try c.encode(tokens, forKey: .tokens)
    }
}

/// A feature's label: the distinct tokens at its strongest corpus examples, strongest first
/// ("' very' ' extremely' …"), line breaks escaped so that it stays one line.
public enum FeatureLabel {
    public static let tokens = 6

    public static func text(_ feature: Int, scan: FeatureScan, model: LanternModel) -> String {
        var seen: [String] = []
        for e in scan.examples(feature) {
            let t = "'" + model.shown(e.tokens[e.maxIndex]) + "'"
            if !seen.contains(t) { seen.append(t) }
            if seen.count == tokens { break }
        }
        return seen.joined(separator: " ")
    }
}
