import Foundation
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

    public static func parse(_ top: [String: Any], path: String) throws -> ModelConfig {
        // Multimodal Gemma 3 configs keep the language model under text_config.
        var json = top
        if let text = top["text_config"] as? [String: Any] {
            json = text
            if json["model_type"] == nil { json["model_type"] = "gemma3_text" }
        }
        let reader = ConfigReader(json: json, path: path)
        let modelType = try reader.string("model_type")
        let family: Family
        switch modelType {
        case "gemma2": family = .gemma2
        case "gemma3", "gemma3_text": family = .gemma3
        case "llama", "mistral": family = .llama
        default:
            throw LanternError.badFile(path: path, field: "model_type", problem: "'\(modelType)' is not a supported architecture (gemma2, gemma3_text, llama)")
        }
        let hidden = try reader.int("hidden_size")
        let heads = try reader.int("num_attention_heads")
        let headDim = try reader.optionalInt("head_dim") ?? hidden / max(heads, 1)
        let layers = try reader.int("num_hidden_layers")
        let kvHeads = try reader.optionalInt("num_key_value_heads") ?? heads
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0 else {
            throw LanternError.badFile(path: path, field: "num_key_value_heads", problem: "\(kvHeads) does not divide num_attention_heads \(heads)")
        }
        guard headDim > 0, headDim % 2 == 0 else {
            throw LanternError.badFile(path: path, field: "head_dim", problem: "\(headDim) must be a positive even number")
        }

        // Which layers slide: layer_types when present, else each family's rule.
        var sliding: [Bool]
        if let types = json["layer_types"] as? [String] {
            guard types.count == layers else {
                throw LanternError.badFile(path: path, field: "layer_types", problem: "\(types.count) entries for \(layers) layers")
            }
            sliding = types.map { $0 == "sliding_attention" }
        } else {
            switch family {
            case .gemma2: sliding = (0..<layers).map { $0 % 2 == 0 }
            case .gemma3:
                let pattern = try reader.optionalInt("sliding_window_pattern") ?? 6
                sliding = (0..<layers).map { ($0 + 1) % pattern != 0 }
            case .llama: sliding = Array(repeating: false, count: layers)
            }
        }
        let window = try reader.optionalInt("sliding_window")
        if window == nil { sliding = sliding.map { _ in false } }

        // RoPE: transformers 5 nests parameters (per layer type for Gemma 3); 4 keeps them on top.
        func ropeParams(_ entry: [String: Any]?, defaultTheta: Float) throws -> RopeParams {
            let theta = (entry?["rope_theta"] as? NSNumber)?.floatValue ?? defaultTheta
            var scale: Float = 1
            let type = entry?["rope_type"] as? String ?? entry?["type"] as? String ?? "default"
            switch type {
            case "default": break
            case "linear": scale = (entry?["factor"] as? NSNumber)?.floatValue ?? 1
            default:
                throw LanternError.badFile(path: path, field: "rope_type", problem: "'\(type)' is not supported (default, linear)")
            }
            return RopeParams(theta: theta, pairing: .half, positionScale: scale, rotaryDim: headDim)
        }
        let topTheta = (json["rope_theta"] as? NSNumber)?.floatValue ?? 10_000
        let localTheta = (json["rope_local_base_freq"] as? NSNumber)?.floatValue ?? 10_000
        var ropeGlobal: RopeParams, ropeLocal: RopeParams
        if let params = json["rope_parameters"] as? [String: Any] {
            if let full = params["full_attention"] as? [String: Any] {
                ropeGlobal = try ropeParams(full, defaultTheta: topTheta)
                ropeLocal = try ropeParams(params["sliding_attention"] as? [String: Any], defaultTheta: localTheta)
            } else {
                ropeGlobal = try ropeParams(params, defaultTheta: topTheta)
                ropeLocal = family == .gemma3 ? RopeParams(theta: localTheta, rotaryDim: headDim) : ropeGlobal
            }
        } else {
            ropeGlobal = try ropeParams(json["rope_scaling"] as? [String: Any], defaultTheta: topTheta)
            ropeGlobal.theta = topTheta
            ropeLocal = family == .gemma3 ? RopeParams(theta: localTheta, rotaryDim: headDim) : ropeGlobal
        }

        let scalar = (json["query_pre_attn_scalar"] as? NSNumber)?.floatValue
        let activationName = (json["hidden_activation"] as? String) ?? (json["hidden_act"] as? String)
            ?? (family == .llama ? "silu" : "gelu_pytorch_tanh")
        let activation: Activation
        switch activationName {
        case "gelu_pytorch_tanh", "gelu_tanh", "gelu": activation = .geluTanh
        case "silu", "swish": activation = .silu
        default:
            throw LanternError.badFile(path: path, field: "hidden_activation", problem: "'\(activationName)' is not supported")
        }
        func tokenList(_ key: String) -> [Int32] {
            if let n = json[key] as? NSNumber { return [n.int32Value] }
            if let a = json[key] as? [NSNumber] { return a.map(\.int32Value) }
            return []
        }
        let positiveFloat = { (key: String) -> Float? in
            guard let v = (json[key] as? NSNumber)?.floatValue, v > 0 else { return nil }
            return v
        }
        return ModelConfig(
            family: family,
            vocabSize: try reader.int("vocab_size"),
            hiddenSize: hidden,
            intermediateSize: try reader.int("intermediate_size"),
            layerCount: layers,
            heads: heads,
            kvHeads: kvHeads,
            headDim: headDim,
            rmsEps: (json["rms_norm_eps"] as? NSNumber)?.floatValue ?? 1e-6,
            ropeGlobal: ropeGlobal,
            ropeLocal: ropeLocal,
            attentionScale: 1 / (scalar ?? Float(headDim)).squareRoot(),
            slidingWindow: window,
            slidingLayers: sliding,
            attentionSoftcap: family == .gemma2 ? positiveFloat("attn_logit_softcapping") : nil,
            finalSoftcap: family == .llama ? nil : positiveFloat("final_logit_softcapping"),
            tiedEmbeddings: (json["tie_word_embeddings"] as? Bool) ?? (family != .llama),
            activation: activation,
            contextLength: try reader.optionalInt("max_position_embeddings") ?? 8192,
            bosToken: tokenList("bos_token_id").first,
            eosTokens: tokenList("eos_token_id"),
            padToken: tokenList("pad_token_id").first
        )
    }
}

/// Typed access to a JSON object, with errors that name the file and the field.
struct ConfigReader {
    let json: [String: Any]
    let path: String

    func string(_ key: String) throws -> String {
        guard let v = json[key] as? String else {
            throw LanternError.badFile(path: path, field: key, problem: json[key] == nil ? "missing" : "expected a string")
        }
        return v
    }

    func int(_ key: String) throws -> Int {
        guard let v = try optionalInt(key) else { throw LanternError.badFile(path: path, field: key, problem: "missing") }
        return v
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let raw = json[key], !(raw is NSNull) else { return nil }
        guard let n = raw as? NSNumber, n.doubleValue == n.doubleValue.rounded(), n.intValue >= 0 else {
            throw LanternError.badFile(path: path, field: key, problem: "expected a non-negative integer, got \(raw)")
        }
        return n.intValue
    }
}
