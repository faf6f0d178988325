import Foundation
import Lantern

/// The most likely next tokens after a prompt, with probabilities.
public struct NextRequest: AnalysisRequest {
    public static let name = "next"
    public static let summary = "The most likely next tokens after a prompt, with probabilities and logits."
    public static let top = Field("top", .integer(1...1_000_000), limit: .topCount, default: "10", "How many tokens to show.")
    public static let fields = [Field.prompt, .tokenIDs, top]

    public var prompt: PromptInput?
    public var top = 10

    public init(prompt: PromptInput?, top: Int = 10) {
        self.prompt = prompt
        self.top = top
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        top = try json.int(Self.top) ?? top
    }

    public func validate(against context: AnalysisContext) throws {
        try context.check(top, Self.top)
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> NextResult {
        let model = context.model
        let ids = try context.tokens(prompt)
        guard let out = try model.transformer.forward(ids, logits: .last) else { throw LanternError.backend("the forward pass returned no logits") }
        return try result(ids: ids, logits: try model.backend.read(out), model: model)
    }

    /// The answer from the prompt's last logits (run alone, or as one row of a batched pass).
    public func result(ids: [Int32], logits: [Float], model: LanternModel) throws -> NextResult {
        try model.transformer.requireFinite(logits: logits, tokens: ids)
        let probs = LogitLens.softmax(logits)
        // The stable sort's first k (ties to the lower id), without sorting the whole vocabulary.
        let order = Ranking.largest(min(top, probs.count), of: probs)
        return NextResult(ids: ids.map(Int.init), top: order.map {
            NextResult.Candidate(id: $0, token: model.display(Int32($0)), prob: Double(probs[$0]), logit: Double(logits[$0]))
        })
    }
}

public struct NextResult: Codable, Sendable {
    public struct Candidate: Codable, Sendable {
        public var id: Int
        public var token: String
        public var prob: Double
        public var logit: Double
    }
    /// The prompt's ids.
    public var ids: [Int]
    /// The most likely next tokens, most likely first.
    public var top: [Candidate]
}
