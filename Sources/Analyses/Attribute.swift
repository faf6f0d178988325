import Foundation
import Lantern

/// Direct logit attribution: how much the embedding, each head and each MLP add to
/// logit(target) − logit(baseline) at the last position.
public struct AttributeRequest: AnalysisRequest {
    public static let name = "attribute"
    public static let summary = "Direct logit attribution of logit(target) − logit(baseline) at the last position to the embedding, every head and every MLP (each through the final norm at its frozen scale)."
    public static let target = Field("target", .token, "The token whose logit to explain: an id or the text of one token.")
    public static let baseline = Field("baseline", .token, "The token whose logit is subtracted (optional).")
    public static let fields = [Field.prompt, .tokenIDs, target, baseline]

    public var prompt: PromptInput?
    public var target: TokenInput?
    public var baseline: TokenInput?

    public init(prompt: PromptInput?, target: TokenInput?, baseline: TokenInput? = nil) {
        self.prompt = prompt
        self.target = target
        self.baseline = baseline
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        target = try json.token(Self.target)
        baseline = try json.token(Self.baseline)
    }

    public func validate(against context: AnalysisContext) throws {
        guard target != nil else { throw AnalysisError.invalid("give \(context.name(Self.target)), the token whose logit to explain") }
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> AttributeResult {
        let ids = try context.tokens(prompt)
        let result = try DirectLogitAttribution.run(context.transformer, tokens: ids, target: try context.token(target, Self.target)!,
                                                    baseline: try context.token(baseline, Self.baseline))
        return AttributeResult(result, model: context.model)
    }
}

/// Every component with its value, the head grid [layer][head] and the MLP column, and what the
/// components leave over (Gemma 2's final softcap). `result` keeps the numbers for the CLI.
public struct AttributeResult: Encodable, Sendable {
    public struct Component: Encodable, Sendable {
        public var name: String
        public var kind: String
        public var value: Double
        public var layer: Int?
        public var head: Int?
    }
    public let result: LogitAttribution
    public var tokens: [Int]
    public var pieces: [String]
    public var target: Int
    public var baseline: Int?
    public var logitDifference: Double
    public var uncappedLogitDifference: Double
    public var componentSum: Double
    public var remainder: Double
    public var remainderExplanation: String
    public var finalNormScale: Double
    public var finalSoftcap: Double?
    public var layers: Int
    public var heads: Int
    public var components: [Component]
    public var headGrid: [[Double]]
    public var mlp: [Double]
    public var embedding: Double

    enum CodingKeys: String, CodingKey {
        case tokens, pieces, target, baseline, remainder, layers, heads, components, mlp, embedding
        case logitDifference = "logit_difference", uncappedLogitDifference = "uncapped_logit_difference", componentSum = "component_sum"
        case remainderExplanation = "remainder_explanation", finalNormScale = "final_norm_scale", finalSoftcap = "final_softcap", headGrid = "head_grid"
    }

    public init(_ a: LogitAttribution, model: LanternModel) {
        result = a
        tokens = a.tokens.map(Int.init)
        pieces = a.tokens.map(model.display)
        target = Int(a.target)
        baseline = a.baseline.map(Int.init)
        logitDifference = Double(a.logitDifference)
        uncappedLogitDifference = Double(a.uncappedDifference)
        componentSum = Double(a.componentSum)
        remainder = Double(a.remainder)
        remainderExplanation = a.remainderExplanation
        finalNormScale = Double(a.finalScale)
        finalSoftcap = a.finalSoftcap.map(Double.init)
        layers = a.layers
        heads = a.heads
        components = a.components.map { Component(name: $0.name, kind: $0.kind.rawValue, value: Double($0.value), layer: $0.layer, head: $0.head) }
        headGrid = a.headGrid.map { $0.map(Double.init) }
        mlp = a.mlpColumn.map(Double.init)
        embedding = Double(a.embedding)
    }
}
