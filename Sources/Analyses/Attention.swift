import Foundation
import Lantern

/// Every head's attention pattern in the chosen layers.
public struct AttentionRequest: AnalysisRequest {
    public static let name = "attention"
    public static let summary = "Attention patterns [heads][query][key] per layer."
    public static let layers = Field("layers", flag: "--layer", .integers, default: "all", "The layers to show.")
    public static let fields = [Field.prompt, .tokenIDs, layers]

    public var prompt: PromptInput?
    /// nil: every layer.
    public var layers: [Int]?

    public init(prompt: PromptInput?, layers: [Int]? = nil) {
        self.prompt = prompt
        self.layers = layers
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        layers = try json.ints(Self.layers)
    }

    public func validate(against context: AnalysisContext) throws {
        let count = context.config.layerCount
        guard let layers else { return }
        guard !layers.isEmpty else { throw AnalysisError.invalid("\(context.name(Self.layers)) must name at least one layer") }
        for l in layers { try context.check(l, Self.layers, 0...(count - 1)) }
        if let twice = layers.enumerated().first(where: { layers[..<$0.offset].contains($0.element) })?.element {
            throw AnalysisError.invalid("\(context.name(Self.layers)) names \(twice) twice")
        }
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> AttentionResult {
        let model = context.model, heads = context.config.heads
        let layers = self.layers ?? Array(0..<context.config.layerCount)
        let ids = try context.tokens(prompt)
        let hooks = Hooks(capture: HookFilter(layers.map { "blocks.\($0).attn.hook_pattern" }))
        try model.transformer.forward(ids, hooks: hooks, logits: .none, stopAfterLayer: layers.max())
        let patterns = try layers.map { l -> [Float] in
            guard let p = hooks.activation("blocks.\(l).attn.hook_pattern") else { throw LanternError.backend("no pattern for layer \(l)") }
            return try model.backend.read(p)
        }
        return AttentionResult(tokens: ids.map(Int.init), pieces: ids.map(model.display), layers: layers, heads: heads, values: patterns)
    }
}

public struct AttentionResult: Encodable, Sendable {
    public var tokens: [Int]
    public var pieces: [String]
    public var layers: [Int]
    public var heads: Int
    /// Per layer, [heads, query, key] row-major.
    public let values: [[Float]]

    /// Per layer, [head][query][key].
    public var patterns: [[[[Double]]]] {
        let n = tokens.count
        return values.map { p in (0..<heads).map { h in (0..<n).map { q in (0..<n).map { k in Double(p[(h * n + q) * n + k]) } } } }
    }

    enum CodingKeys: String, CodingKey { case tokens, pieces, layers, heads, patterns }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(pieces, forKey: .pieces)
        try c.encode(layers, forKey: .layers)
        try c.encode(heads, forKey: .heads)
        try c.encode(patterns, forKey: .patterns)
    }
}
