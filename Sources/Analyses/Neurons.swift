import Foundation
import Lantern

/// One layer's MLP neurons (columns of blocks.L.mlp.hook_post) with the largest activations on
/// each token of a prompt.
public struct NeuronsRequest: AnalysisRequest {
    public static let name = "neurons"
    public static let summary = "One layer's MLP neurons (blocks.L.mlp.hook_post) with the largest activations on each token (neurons are signed: the positive side is ranked, as in the scans)."
    public static let layer = Field("layer", .integer(0...1_000_000), default: "the middle layer", "The layer.")
    public static let top = Field("top", .integer(1...1_000_000), limit: .topCount, default: "5", "Neurons per token.")
    public static let fields = [Field.prompt, .tokenIDs, layer, top]

    public var prompt: PromptInput?
    public var layer: Int?
    public var top = 5

    public init(prompt: PromptInput?, layer: Int? = nil, top: Int = 5) {
        self.prompt = prompt
        self.layer = layer
        self.top = top
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        layer = try json.int(Self.layer)
        top = try json.int(Self.top) ?? top
    }

    public func validate(against context: AnalysisContext) throws {
        if let layer { try context.check(layer, Self.layer, 0...(context.config.layerCount - 1)) }
        try context.check(top, Self.top)
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> NeuronsResult {
        let model = context.model
        let layer = self.layer ?? context.config.layerCount / 2
        let ids = try context.tokens(prompt)
        let hook = "blocks.\(layer).mlp.hook_post"
        let hooks = Hooks(capture: HookFilter([hook]))
        try model.transformer.forward(ids, hooks: hooks, logits: .none, stopAfterLayer: layer)
        guard let post = hooks.activation(hook) else { throw LanternError.backend("no \(hook)") }
        let values = try model.backend.read(post)
        let width = values.count / ids.count
        return NeuronsResult(hook: hook, layer: layer, dMLP: width, tokens: ids.indices.map { p in
            let row = Array(values[(p * width)..<((p + 1) * width)])
            return NeuronsResult.Token(position: p, id: Int(ids[p]), text: model.display(ids[p]),
                                       neurons: Ranking.largest(min(top, width), of: row).map { .init(neuron: $0, activation: Double(row[$0])) })
        })
    }
}

public struct NeuronsResult: Codable, Sendable {
    public struct Neuron: Codable, Sendable {
        public var neuron: Int
        public var activation: Double
    }
    public struct Token: Codable, Sendable {
        public var position: Int
        public var id: Int
        public var text: String
        public var neurons: [Neuron]
    }
    public var hook: String
    public var layer: Int
    public var dMLP: Int
    public var tokens: [Token]
    enum CodingKeys: String, CodingKey { case hook, layer, dMLP = "d_mlp", tokens }
}
