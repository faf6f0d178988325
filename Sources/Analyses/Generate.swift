import Foundation
import Lantern

/// A continuation of a prompt with the KV cache, greedy or sampled.
public struct GenerateRequest: AnalysisRequest {
    public static let name = "generate"
    public static let summary = "Continue a prompt (greedy, or sampled with temperature, top-k and top-p)."
    public static let maxNewTokens = Field("max_new_tokens", .integer(0...(1 << 20)), limit: .newTokens, default: "32", "How many tokens to generate at most.")
    public static let temperature = Field("temperature", .number(0...100), default: "0", "Sampling temperature (0 = greedy).")
    public static let topK = Field("top_k", .integer(1...(1 << 30)), "Sample only among the k most likely tokens.")
    public static let topP = Field("top_p", .number(0...1), "Sample only among the most likely tokens whose probability adds up to p.")
    public static let seed = Field("seed", .integer(0...(1 << 53)), default: "0", "Random seed for sampling.")
    public static let stopAtEOS = Field("stop_at_eos", flag: "--ignore-eos", .boolean, default: "true", "Stop at an end-of-sequence token (the CLI's --ignore-eos keeps going).")
    public static let fields = [Field.prompt, .tokenIDs, maxNewTokens, temperature, topK, topP, seed, stopAtEOS]

    public var prompt: PromptInput?
    public var maxNewTokens = 32
    public var temperature = 0.0
    public var topK: Int?
    public var topP: Double?
    public var seed = 0
    public var stopAtEOS = true

    public init(prompt: PromptInput?, maxNewTokens: Int = 32, temperature: Double = 0, topK: Int? = nil, topP: Double? = nil,
                seed: Int = 0, stopAtEOS: Bool = true) {
        self.prompt = prompt
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.stopAtEOS = stopAtEOS
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        maxNewTokens = try json.int(Self.maxNewTokens) ?? maxNewTokens
        temperature = try json.double(Self.temperature) ?? temperature
        topK = try json.int(Self.topK)
        topP = try json.double(Self.topP)
        seed = try json.int(Self.seed) ?? seed
        stopAtEOS = try json.bool(Self.stopAtEOS) ?? stopAtEOS
    }

    public func validate(against context: AnalysisContext) throws {
        try context.check(maxNewTokens, Self.maxNewTokens)
        try context.check(temperature, Self.temperature)
        if let topK { try context.check(topK, Self.topK) }
        if let topP {
            try context.check(topP, Self.topP)
            guard topP > 0 else { throw AnalysisError.invalid("\(context.name(Self.topP)) must be above 0, got 0") }
        }
        try context.check(seed, Self.seed)
    }

    /// The continuation, to be stepped a token at a time (the CLI streams its text as it comes).
    public func start(on context: AnalysisContext) throws -> Continuation {
        let ids = try context.tokens(prompt, reserve: maxNewTokens)
        let sampler = Sampler(temperature: Float(temperature), topK: topK, topP: topP.map(Float.init), seed: UInt64(seed))
        return try Continuation(model: context.transformer, prompt: ids, maxNewTokens: maxNewTokens, sampler: sampler, stopAtEOS: stopAtEOS)
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> GenerateResult {
        let continuation = try start(on: context)
        while try continuation.step() != nil { try monitor.step(continuation.tokens.count, of: maxNewTokens, "generate") }
        return GenerateResult(continuation, model: context.model)
    }
}

public struct GenerateResult: Encodable, Sendable {
    /// The prompt's ids.
    public var ids: [Int]
    public var newIDs: [Int]
    /// The new tokens as text (absent without a tokenizer).
    public var text: String?

    enum CodingKeys: String, CodingKey { case ids, newIDs = "new_ids", text }

    public init(_ continuation: Continuation, model: LanternModel) {
        ids = continuation.prompt.map(Int.init)
        newIDs = continuation.tokens.map(Int.init)
        text = model.tokenizer != nil ? model.decode(continuation.tokens) : nil
    }
}
