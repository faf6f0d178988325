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
        return try result(ids: ids, logits: out, model: model)
    }

    /// The answer from the prompt's last logits [1, vocab] (run alone, or as one row of a batched
    /// pass), summarised where they lie: the softmax normaliser and the top tokens come back, not
    /// the vocabulary's logits. Probabilities as `LogitLens.softmax` gives them (to its summation
    /// order); ties in the order go to the lower id.
    public func result(ids: [Int32], logits: Tensor, model: LanternModel) throws -> NextResult {
        let vocab = logits.width
        guard let summary = try model.backend.logitSummaries(logits, topK: min(top, vocab), tokens: []).first else {
            throw LanternError.backend("the forward pass returned no logits")
        }
        let s = summary.statistics
        // A NaN or +∞ logit leaves the normaliser non-finite: name where it started.
        guard s.max.isFinite, s.sumExp.isFinite, s.sumExp > 0 else {
            try model.transformer.requireFinite(logits: try model.backend.read(logits), tokens: ids)
            throw LanternError.invalidArgument("non-finite logits (NaN or ±∞): the model's weights or config produce them")
        }
        return NextResult(ids: ids.map(Int.init), top: summary.top.map {
            NextResult.Candidate(id: Int($0.token), token: model.display($0.token), prob: Double(s.probability($0.logit)), logit: Double($0.logit))
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
