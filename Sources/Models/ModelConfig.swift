import Foundation
import Formats
import LanternCore

/// The transformer families Lantern runs. They share one implementation; these settings are
/// where they differ.
public enum Family: String, Sendable, CaseIterable {
    case gemma2, gemma3, llama
}

public enum Activation: String, Sendable { case geluTanh, silu }

/// Everything the forward pass needs to know about a model's shape and conventions.
public struct ModelConfig: Sendable, Equatable {
    public var family: Family
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var rmsEps: Float
    /// RoPE for full-attention layers, and for sliding-window layers (Gemma 3 uses another θ).
    public var ropeGlobal: RopeParams
    public var ropeLocal: RopeParams
    /// q·k is multiplied by this (Gemma: query_pre_attn_scalar^-1/2).
    public var attentionScale: Float
    public var slidingWindow: Int?
    /// Per layer: does it use the sliding window?
    public var slidingLayers: [Bool]
    public var attentionSoftcap: Float?
    public var finalSoftcap: Float?
    public var tiedEmbeddings: Bool
    public var activation: Activation
    public var contextLength: Int
    public var bosToken: Int32?
    public var eosTokens: [Int32]
    public var padToken: Int32?

    // Family conventions.
    public var normForm: RMSNormForm { family == .llama ? .llama : .gemma }
    /// Gemma multiplies the embedding by √hidden (computed in f32).
    public var embeddingScale: Float { family == .llama ? 1 : Float(hiddenSize).squareRoot() }
    /// Gemma's extra norms on each branch before the residual add.
    public var sandwichNorms: Bool { family != .llama }
    /// Gemma 3 normalises q and k per head before RoPE.
    public var qkNorm: Bool { family == .gemma3 }

    public func rope(layer: Int) -> RopeParams { slidingLayers[layer] ? ropeLocal : ropeGlobal }
    public func window(layer: Int) -> Int? { slidingLayers[layer] ? slidingWindow : nil }

    public func attentionParams(layer: Int) -> AttentionParams {
        AttentionParams(heads: heads, kvHeads: kvHeads, headDim: headDim, scale: attentionScale,
                        softcap: attentionSoftcap, window: window(layer: layer))
    }
}

extension ModelConfig {
    /// Reads a Hugging Face `config.json`, in the transformers-4 style (`rope_theta` at the top)
    /// or the transformers-5 style (`rope_parameters`, possibly per layer type, and `layer_types`).
    public static func load(path: String) throws -> ModelConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LanternError.badFile(path: path, field: "file", problem: "cannot read")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LanternError.badFile(path: path, field: "file", problem: "not a JSON object")
        }
        return try parse(json, path: path)
    }

    /// Every key is read strictly (`JSONFields`): a value of the wrong type or out of range is an
    /// error naming the key, never a default; the whole configuration is then `validate`d.
    public static func parse(_ top: [String: Any], path: String) throws -> ModelConfig {
        // Multimodal Gemma 3 configs keep the language model under text_config.
        var json = top
        if let text = try JSONFields(top, path: path).optionalObject("text_config") {
            json = text.json
            if json["model_type"] == nil { json["model_type"] = "gemma3_text" }
        }
        let reader = JSONFields(json, path: path)
        let modelType = try reader.string("model_type")
        let family: Family
        switch modelType {
        case "gemma2": family = .gemma2
        case "gemma3", "gemma3_text": family = .gemma3
        case "llama", "mistral": family = .llama
        default:
            throw LanternError.badFile(path: path, field: "model_type", problem: "'\(modelType)' is not a supported architecture (gemma2, gemma3_text, llama)")
        }
        let limits = Limits.self
        let hidden = try reader.int("hidden_size", in: 1...limits.hidden)
        let heads = try reader.int("num_attention_heads", in: 1...limits.heads)
        let headDim = try reader.optionalInt("head_dim", in: 1...limits.headDim) ?? hidden / heads
        let layers = try reader.int("num_hidden_layers", in: 1...limits.layers)
        let kvHeads = try reader.optionalInt("num_key_value_heads", in: 1...limits.heads) ?? heads
        guard heads % kvHeads == 0 else {
            throw LanternError.badFile(path: path, field: "num_key_value_heads", problem: "\(kvHeads) does not divide num_attention_heads \(heads)")
        }
        guard headDim > 0, headDim % 2 == 0 else {
            throw LanternError.badFile(path: path, field: "head_dim", problem: "\(headDim) must be a positive even number")
        }

        // Which layers slide: layer_types when present, else each family's rule.
        var sliding: [Bool]
        if let types = try reader.optionalStrings("layer_types") {
            guard types.count == layers else {
                throw LanternError.badFile(path: path, field: "layer_types", problem: "\(types.count) entries for \(layers) layers")
            }
            for type in types where type != "sliding_attention" && type != "full_attention" {
                throw LanternError.badFile(path: path, field: "layer_types", problem: "'\(type)' is neither sliding_attention nor full_attention")
            }
            sliding = types.map { $0 == "sliding_attention" }
        } else {
            switch family {
            case .gemma2: sliding = (0..<layers).map { $0 % 2 == 0 }
            case .gemma3:
                // 0 would divide by zero below; every real Gemma 3 uses 6.
                let pattern = try reader.optionalInt("sliding_window_pattern", in: 1...limits.layers) ?? 6
                sliding = (0..<layers).map { ($0 + 1) % pattern != 0 }
            case .llama: sliding = Array(repeating: false, count: layers)
            }
        }
        let window = try reader.optionalInt("sliding_window", in: 1...limits.context)
        if window == nil { sliding = sliding.map { _ in false } }

        // RoPE: transformers 5 nests parameters (per layer type for Gemma 3); 4 keeps them on top.
        func float(_ fields: JSONFields?, _ key: String) throws -> Float? {
            try fields?.optionalDouble(key, positive: true).map(Float.init)
        }
        func ropeParams(_ entry: JSONFields?, defaultTheta: Float) throws -> RopeParams {
            let theta = try float(entry, "rope_theta") ?? defaultTheta
            var scale: Float = 1
            let type = try entry?.optionalString("rope_type") ?? entry?.optionalString("type") ?? "default"
            switch type {
            case "default": break
            case "linear": scale = try float(entry, "factor") ?? 1
            default:
                throw LanternError.badFile(path: path, field: (entry?.prefix ?? "") + "rope_type", problem: "'\(type)' is not supported (default, linear)")
            }
            return RopeParams(theta: theta, pairing: .half, positionScale: scale, rotaryDim: headDim)
        }
        let topTheta = try float(reader, "rope_theta") ?? 10_000
        let localTheta = try float(reader, "rope_local_base_freq") ?? 10_000
        var ropeGlobal: RopeParams, ropeLocal: RopeParams
        if let params = try reader.optionalObject("rope_parameters") {
            if let full = try params.optionalObject("full_attention") {
                ropeGlobal = try ropeParams(full, defaultTheta: topTheta)
                ropeLocal = try ropeParams(try params.optionalObject("sliding_attention"), defaultTheta: localTheta)
            } else {
                ropeGlobal = try ropeParams(params, defaultTheta: topTheta)
                ropeLocal = family == .gemma3 ? RopeParams(theta: localTheta, rotaryDim: headDim) : ropeGlobal
            }
        } else {
            ropeGlobal = try ropeParams(try reader.optionalObject("rope_scaling"), defaultTheta: topTheta)
            ropeGlobal.theta = topTheta
            ropeLocal = family == .gemma3 ? RopeParams(theta: localTheta, rotaryDim: headDim) : ropeGlobal
        }

        let scalar = try float(reader, "query_pre_attn_scalar")
        let activationName = try reader.optionalString("hidden_activation") ?? reader.optionalString("hidden_act")
            ?? (family == .llama ? "silu" : "gelu_pytorch_tanh")
        let activation: Activation
        switch activationName {
        case "gelu_pytorch_tanh", "gelu_tanh", "gelu": activation = .geluTanh
        case "silu", "swish": activation = .silu
        default:
            throw LanternError.badFile(path: path, field: "hidden_activation", problem: "'\(activationName)' is not supported")
        }
        let vocab = try reader.int("vocab_size", in: 1...limits.vocab)
        // Token ids: -1 (and null) conventionally mean "none"; anything else must be a token.
        func tokenList(_ key: String) throws -> [Int32] {
            try (reader.optionalInts(key, in: -1...(vocab - 1)) ?? []).filter { $0 >= 0 }.map { Int32($0) }
        }
        // A softcap of 0 (or null) switches it off; a negative one, NaN or a string is an error
        // (tanh(x/c)·c is even in c, so a negative cap is no setting anyone writes: a damaged file).
        func softcap(_ key: String) throws -> Float? {
            guard let v = try reader.optionalDouble(key) else { return nil }
            guard v >= 0 else { throw reader.bad(key, "\(v): expected a positive softcap, or 0 or null for none") }
            return v > 0 ? Float(v) : nil
        }
        let config = ModelConfig(
            family: family,
            vocabSize: vocab,
            hiddenSize: hidden,
            intermediateSize: try reader.int("intermediate_size", in: 1...limits.intermediate),
            layerCount: layers,
            heads: heads,
            kvHeads: kvHeads,
            headDim: headDim,
            rmsEps: try float(reader, "rms_norm_eps") ?? 1e-6,
            ropeGlobal: ropeGlobal,
            ropeLocal: ropeLocal,
            attentionScale: 1 / (scalar ?? Float(headDim)).squareRoot(),
            slidingWindow: window,
            slidingLayers: sliding,
            attentionSoftcap: family == .gemma2 ? try softcap("attn_logit_softcapping") : nil,
            finalSoftcap: family == .llama ? nil : try softcap("final_logit_softcapping"),
            tiedEmbeddings: try reader.optionalBool("tie_word_embeddings") ?? (family != .llama),
            activation: activation,
            contextLength: try reader.optionalInt("max_position_embeddings", in: 1...limits.context) ?? 8192,
            bosToken: try tokenList("bos_token_id").first,
            eosTokens: try tokenList("eos_token_id"),
            padToken: try tokenList("pad_token_id").first
        )
        try config.validate(path: path, keys: .huggingFace)
        return config
    }
}
