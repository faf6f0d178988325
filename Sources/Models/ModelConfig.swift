import Foundation
import Formats
import LanternCore

/// The transformer families Lantern runs. They share one implementation; the conventions below
/// (`ModelConfig.normForm`, `preNorms`, `postNorms`, `qkNorm`, `qkvBias`, ...) are where they differ.
public enum Family: String, Sendable, CaseIterable {
    case gemma2, gemma3, llama, mistral, qwen2, qwen3, olmo2
    case gpt2
    case gptNeoX = "gpt_neox"

    /// Gemma's conventions: norms scale by 1 + w, the embedding by √hidden, GeLU, tied embeddings.
    public var isGemma: Bool { self == .gemma2 || self == .gemma3 }
    /// GPT-2's and GPT-NeoX's conventions: LayerNorm with a bias, fused q/k/v projections with
    /// biases, a plain (ungated) GELU MLP with biases.
    public var isGPT: Bool { self == .gpt2 || self == .gptNeoX }
}

/// How a model knows where a token is: RoPE inside attention, or GPT-2's learned position
/// embedding added to the token embedding (`hook_pos_embed`).
public enum PositionEncoding: Sendable { case rotary, learned }

/// Where q and k are RMS-normalised before RoPE: over each head's dimensions (Gemma 3, Qwen 3) or
/// over the whole projection output, every head at once (OLMo 2).
public enum QKNorm: Sendable { case perHead, whole }

/// The MLP's activation: gated (GeGLU, SwiGLU) in every family but GPT-2 and GPT-NeoX, whose MLPs
/// apply GELU alone, in its tanh form (`gelu_new`) or exactly (`gelu`, erf).
public enum Activation: String, Sendable { case geluTanh, silu, geluErf }

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
    /// The norms' epsilon: RMSNorm's, or LayerNorm's for GPT-2 and GPT-NeoX (`layer_norm_epsilon`).
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
    /// RoPE, or GPT-2's learned position embedding (no rot_q/rot_k hooks).
    public var positions: PositionEncoding = .rotary
    /// GPT-NeoX's `use_parallel_residual`: attention and the MLP both read the block's input,
    /// y = x + attn(ln1(x)) + mlp(ln2(x)), and there is no hook_resid_mid.
    public var parallelResidual = false
    /// Biases on the q, k, v and output projections (GPT-2; GPT-NeoX's `attention_bias`).
    public var attentionBiases = false

    // Family conventions.
    public var normForm: RMSNormForm { family.isGemma ? .gemma : .llama }
    /// Gemma multiplies the embedding by √hidden (computed in f32).
    public var embeddingScale: Float { family.isGemma ? Float(hiddenSize).squareRoot() : 1 }
    /// Norms on the inputs of attention and the MLP (ln1, ln2): every family but OLMo 2, whose
    /// branches read the residual stream as it is.
    public var preNorms: Bool { family != .olmo2 }
    /// Norms on the outputs of attention and the MLP before the residual add (ln1_post, ln2_post):
    /// Gemma's sandwich norms, OLMo 2's only ones.
    public var postNorms: Bool { family.isGemma || family == .olmo2 }
    /// How q and k are normalised before RoPE, if they are.
    public var qkNorm: QKNorm? {
        switch family {
        case .gemma3, .qwen3: .perHead
        case .olmo2: .whole
        case .gemma2, .llama, .mistral, .qwen2, .gpt2, .gptNeoX: nil
        }
    }
    /// Qwen 2's q, k and v projections add a bias (its output projection has none), as do GPT-2's
    /// and GPT-NeoX's (with their output projection's).
    public var qkvBias: Bool { family == .qwen2 || attentionBiases }
    /// The attention's output projection adds a bias (GPT-2, GPT-NeoX).
    public var outputBias: Bool { attentionBiases }
    /// LayerNorm (mean removed, a bias added) instead of RMSNorm: GPT-2 and GPT-NeoX.
    public var layerNorm: Bool { family.isGPT }
    /// A gated MLP (gate, up, down; hook_pre_linear) in every family but the GPT ones, whose MLP
    /// is up → GELU → down, each projection with its bias.
    public var gatedMLP: Bool { !family.isGPT }
    /// Whether RoPE rotates q and k (hook_rot_q, hook_rot_k): every family but GPT-2.
    public var rotary: Bool { positions == .rotary }
    /// The GELU form of an ungated MLP.
    public var geluApproximation: GELUApproximation { activation == .geluErf ? .erf : .tanh }

    public func rope(layer: Int) -> RopeParams { slidingLayers[layer] ? ropeLocal : ropeGlobal }
    public func window(layer: Int) -> Int? { slidingLayers[layer] ? slidingWindow : nil }

    public func attentionParams(layer: Int) -> AttentionParams {
        AttentionParams(heads: heads, kvHeads: kvHeads, headDim: headDim, scale: attentionScale,
                        softcap: attentionSoftcap, window: window(layer: layer))
    }
}

extension ModelConfig {
    /// The keys of a Hugging Face `config.json` that Lantern reads, transformers-4 style
    /// (`rope_theta` at the top, `rope_scaling`) and transformers-5 style (`rope_parameters`,
    /// possibly per layer type, and `layer_types`). Sizes are bounded (`Limits`) before anything
    /// is sized by them; token ids are checked against the vocabulary after it is known.
    static let schema: ConfigSchema = {
        let limits = Limits.self
        var fields: [ConfigSchema.Field] = [
            .init("model_type", .choice(["gemma2", "gemma3", "gemma3_text", "llama", "mistral", "qwen2", "qwen3", "olmo2"],
                                        expected: supportedTypes), .required()),
            .init("hidden_size", .integer(1...limits.hidden), .required()),
            .init("intermediate_size", .integer(1...limits.intermediate), .required()),
            .init("num_attention_heads", .integer(1...limits.heads), .required()),
            .init("num_key_value_heads", .integer(1...limits.heads)),
            .init("head_dim", .integer(1...limits.headDim)),
            .init("num_hidden_layers", .integer(1...limits.layers), .required()),
            .init("vocab_size", .integer(1...limits.vocab), .required()),
            .init("layer_types", .strings),
            .init("sliding_window_pattern", .integer(1...limits.layers)),
            .init("sliding_window", .integer(1...limits.context)),
            .init("use_sliding_window", .boolean),
            .init("max_window_layers", .integer(0...limits.layers)),
            .init("attention_bias", .boolean),
            .init("mlp_bias", .boolean),
            .init("max_position_embeddings", .integer(1...limits.context)),
            .init("rope_theta", .number(.positive)),
            .init("rope_local_base_freq", .number(.positive)),
            .init("query_pre_attn_scalar", .number(.positive)),
            .init("rms_norm_eps", .number(.positive)),
            .init("hidden_activation", .string),
            .init("hidden_act", .string),
            .init("attn_logit_softcapping", .number(.any)),
            .init("final_logit_softcapping", .number(.any)),
            .init("tie_word_embeddings", .boolean),
            .init("rope_parameters", .object),
            .init("rope_scaling", .object),
        ]
        // -1 conventionally means "none"; anything else must be a token of the vocabulary.
        for key in ["bos_token_id", "eos_token_id", "pad_token_id"] { fields.append(.init(key, .integers(-1...Int(Int32.max)))) }
        for entry in ropeEntries {
            fields += [.init(entry + "rope_theta", .number(.positive)), .init(entry + "rope_type", .string),
                       .init(entry + "type", .string), .init(entry + "factor", .number(.positive))]
        }
        fields += [.init("rope_parameters.full_attention", .object), .init("rope_parameters.sliding_attention", .object)]
        return ConfigSchema(fields)
    }()

    /// The model types `parse` reads, for its messages.
    static let supportedTypes = "gemma2, gemma3_text, llama, mistral, qwen2, qwen3, olmo2, gpt2, gpt_neox"

    /// Where RoPE parameters may sit.
    static let ropeEntries = ["rope_parameters.", "rope_parameters.full_attention.", "rope_parameters.sliding_attention.", "rope_scaling."]

    /// Reads a Hugging Face `config.json`.
    public static func load(path: String) throws -> ModelConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LanternError.badFile(path: path, field: "file", problem: "cannot read")
        }
        let root: JSONValue
        do {
            root = try JSONReader.parse([UInt8](data))
        } catch {
            throw LanternError.badFile(path: path, field: "file", problem: "not a JSON object (byte \(error.offset): \(error.message))")
        }
        return try parse(root, path: path)
    }

    /// A configuration held as a dictionary (tests build them so): read as the file would be.
    public static func parse(_ json: [String: Any], path: String) throws -> ModelConfig {
        guard JSONSerialization.isValidJSONObject(json), let data = try? JSONSerialization.data(withJSONObject: json),
              let root = try? JSONReader.parse([UInt8](data)) else {
            throw LanternError.badFile(path: path, field: "file", problem: "not a JSON object")
        }
        return try parse(root, path: path)
    }

    /// Every key is read through `schema`: a value of the wrong type or out of range is an error
    /// naming the key, never a default; the whole configuration is then `validate`d.
    public static func parse(_ top: JSONValue, path: String) throws -> ModelConfig {
        // Multimodal Gemma 3 configs keep the language model under text_config.
        var root = top
        if let text = try ConfigSchema.lookup("text_config", in: top, path: path) {
            guard var members = text.members else {
                throw LanternError.badFile(path: path, field: "text_config", problem: "expected an object, got \(ConfigSchema.describe(text))")
            }
            if text["model_type"] == nil { members.append((key: "model_type", value: .string("gemma3_text"))) }
            root = .object(members)
        }
        // GPT-2 and GPT-NeoX name their sizes otherwise (n_embd, rotary_pct, ...): schemas of their own.
        switch try ConfigSchema.lookup("model_type", in: root, path: path)?.string {
        case "gpt2": return try parseGPT2(root, path: path)
        case "gpt_neox": return try parseGPTNeoX(root, path: path)
        default: break
        }
        let reader = try schema.read(root, path: path)
        func bad(_ key: String, _ problem: String) -> LanternError { reader.bad(key, problem) }
        func int(_ key: String) throws -> Int { try reader.required(key, reader.int) }
        let family: Family
        switch try reader.required("model_type", reader.string) {
        case "gemma2": family = .gemma2
        case "gemma3", "gemma3_text": family = .gemma3
        case "mistral": family = .mistral
        case "qwen2": family = .qwen2
        case "qwen3": family = .qwen3
        case "olmo2": family = .olmo2
        default: family = .llama
        }
        // Biases Lantern has no place for: the output projection's (attention_bias sets it with q, k
        // and v in Llama, Mistral, Qwen 3 and OLMo 2) and the MLP's. Ignoring them would run another model.
        for key in ["attention_bias", "mlp_bias"] where try reader.bool(key) == true {
            throw bad(key, "true is not supported (projection biases other than Qwen 2's q, k, v)")
        }
        let hidden = try int("hidden_size")
        let heads = try int("num_attention_heads")
        let headDim = try reader.int("head_dim") ?? hidden / heads
        let layers = try int("num_hidden_layers")
        let kvHeads = try reader.int("num_key_value_heads") ?? heads
        guard heads % kvHeads == 0 else {
            throw bad("num_key_value_heads", "\(kvHeads) does not divide num_attention_heads \(heads)")
        }
        guard headDim > 0, headDim % 2 == 0 else {
            throw bad("head_dim", "\(headDim) must be a positive even number")
        }

        // Which layers slide: layer_types when present (Mistral's attention ignores them, as
        // transformers' does), else each family's rule. Qwen's sliding_window applies only with
        // use_sliding_window, to the layers from max_window_layers on; Mistral's to every layer.
        var window = try reader.int("sliding_window")
        if family == .qwen2 || family == .qwen3, try reader.bool("use_sliding_window") != true { window = nil }
        if family == .olmo2 { window = nil }
        var sliding: [Bool]
        if family != .mistral, let types = try reader.strings("layer_types") {
            guard types.count == layers else { throw bad("layer_types", "\(types.count) entries for \(layers) layers") }
            for type in types where type != "sliding_attention" && type != "full_attention" {
                throw bad("layer_types", "'\(type)' is neither sliding_attention nor full_attention")
            }
            sliding = types.map { $0 == "sliding_attention" }
        } else {
            switch family {
            case .gemma2: sliding = (0..<layers).map { $0 % 2 == 0 }
            case .gemma3:
                // Never 0 (the schema's range): it divides below. Every real Gemma 3 uses 6.
                let pattern = try reader.int("sliding_window_pattern") ?? 6
                sliding = (0..<layers).map { ($0 + 1) % pattern != 0 }
            case .mistral: sliding = Array(repeating: true, count: layers)
            case .qwen2, .qwen3:
                let first = try reader.int("max_window_layers") ?? 28
                sliding = (0..<layers).map { $0 >= first }
            case .llama, .olmo2, .gpt2, .gptNeoX: sliding = Array(repeating: false, count: layers)
            }
        }
        if window == nil { sliding = sliding.map { _ in false } }

        // RoPE: transformers 5 nests parameters (per layer type for Gemma 3); 4 keeps them on top.
        func float(_ key: String) throws -> Float? { try reader.double(key).map(Float.init) }
        func ropeParams(_ entry: String?, defaultTheta: Float) throws -> RopeParams {
            guard let entry else { return RopeParams(theta: defaultTheta, pairing: .half, positionScale: 1, rotaryDim: headDim) }
            let theta = try float(entry + "rope_theta") ?? defaultTheta
            var scale: Float = 1
            let type = try reader.string(entry + "rope_type") ?? reader.string(entry + "type") ?? "default"
            switch type {
            case "default": break
            case "linear": scale = try float(entry + "factor") ?? 1
            default: throw bad(entry + "rope_type", "'\(type)' is not supported (default, linear)")
            }
            return RopeParams(theta: theta, pairing: .half, positionScale: scale, rotaryDim: headDim)
        }
        let topTheta = try float("rope_theta") ?? 10_000
        let localTheta = try float("rope_local_base_freq") ?? 10_000
        var ropeGlobal: RopeParams, ropeLocal: RopeParams
        if try reader.has("rope_parameters") {
            if try reader.has("rope_parameters.full_attention") {
                ropeGlobal = try ropeParams("rope_parameters.full_attention.", defaultTheta: topTheta)
                ropeLocal = try ropeParams(try reader.has("rope_parameters.sliding_attention") ? "rope_parameters.sliding_attention." : nil,
                                           defaultTheta: localTheta)
            } else {
                ropeGlobal = try ropeParams("rope_parameters.", defaultTheta: topTheta)
                ropeLocal = family == .gemma3 ? RopeParams(theta: localTheta, rotaryDim: headDim) : ropeGlobal
            }
        } else {
            ropeGlobal = try ropeParams(try reader.has("rope_scaling") ? "rope_scaling." : nil, defaultTheta: topTheta)
            ropeGlobal.theta = topTheta
            ropeLocal = family == .gemma3 ? RopeParams(theta: localTheta, rotaryDim: headDim) : ropeGlobal
        }

        let scalar = try float("query_pre_attn_scalar")
        let activationName = try reader.string("hidden_activation") ?? reader.string("hidden_act")
            ?? (family.isGemma ? "gelu_pytorch_tanh" : "silu")
        let activation: Activation
        switch activationName {
        case "gelu_pytorch_tanh", "gelu_tanh", "gelu": activation = .geluTanh
        case "silu", "swish": activation = .silu
        default: throw bad("hidden_activation", "'\(activationName)' is not supported")
        }
        let vocab = try int("vocab_size")
        // Token ids: -1 (and null) conventionally mean "none"; anything else must be a token.
        func tokenList(_ key: String) throws -> [Int32] {
            let ids = try reader.ints(key) ?? []
            if let id = ids.first(where: { $0 >= vocab }) { throw bad(key, "\(id) is outside -1...\(vocab - 1) (the vocabulary)") }
            return ids.filter { $0 >= 0 }.map { Int32($0) }
        }
        // A softcap of 0 (or null) switches it off; a negative one is an error (tanh(x/c)·c is
        // even in c, so a negative cap is no setting anyone writes: a damaged file).
        func softcap(_ key: String) throws -> Float? {
            guard let v = try reader.double(key) else { return nil }
            guard v >= 0 else { throw bad(key, "\(v): expected a positive softcap, or 0 or null for none") }
            return v > 0 ? Float(v) : nil
        }
        let config = ModelConfig(
            family: family,
            vocabSize: vocab,
            hiddenSize: hidden,
            intermediateSize: try int("intermediate_size"),
            layerCount: layers,
            heads: heads,
            kvHeads: kvHeads,
            headDim: headDim,
            rmsEps: try float("rms_norm_eps") ?? (family == .olmo2 ? 1e-5 : 1e-6),
            ropeGlobal: ropeGlobal,
            ropeLocal: ropeLocal,
            attentionScale: 1 / (scalar ?? Float(headDim)).squareRoot(),
            slidingWindow: window,
            slidingLayers: sliding,
            attentionSoftcap: family == .gemma2 ? try softcap("attn_logit_softcapping") : nil,
            finalSoftcap: family.isGemma ? try softcap("final_logit_softcapping") : nil,
            tiedEmbeddings: try reader.bool("tie_word_embeddings") ?? family.isGemma,
            activation: activation,
            contextLength: try reader.int("max_position_embeddings") ?? 8192,
            bosToken: try tokenList("bos_token_id").first,
            eosTokens: try tokenList("eos_token_id"),
            padToken: try tokenList("pad_token_id").first
        )
        try config.validate(path: path, keys: .huggingFace)
        return config
    }
}
