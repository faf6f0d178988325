import Foundation
import Formats
import LanternCore

/// The config.json of GPT-2 and GPT-NeoX (Pythia), each through a schema of its own: GPT-2 names
/// its sizes `n_embd`, `n_head`, `n_layer`, `n_positions`, `n_inner`; GPT-NeoX keeps Llama's names
/// but says `layer_norm_eps`, `rotary_pct` and `rotary_emb_base` (transformers 5 writes the last
/// two into `rope_parameters`).
extension ModelConfig {
    static let gpt2Schema: ConfigSchema = {
        let limits = Limits.self
        var fields: [ConfigSchema.Field] = [
            .init("model_type", .choice(["gpt2"], expected: "gpt2"), .required()),
            .init("n_embd", .integer(1...limits.hidden), .required()),
            .init("n_head", .integer(1...limits.heads), .required()),
            .init("n_layer", .integer(1...limits.layers), .required()),
            .init("n_inner", .integer(1...limits.intermediate)),
            .init("n_positions", .integer(1...limits.context)),
            .init("vocab_size", .integer(1...limits.vocab), .required()),
            .init("layer_norm_epsilon", .number(.positive)),
            .init("activation_function", .string),
            .init("scale_attn_weights", .boolean),
            .init("scale_attn_by_inverse_layer_idx", .boolean),
            .init("add_cross_attention", .boolean),
            .init("tie_word_embeddings", .boolean),
        ]
        for key in ["bos_token_id", "eos_token_id", "pad_token_id"] { fields.append(.init(key, .integers(-1...Int(Int32.max)))) }
        return ConfigSchema(fields)
    }()

    static let gptNeoXSchema: ConfigSchema = {
        let limits = Limits.self
        var fields: [ConfigSchema.Field] = [
            .init("model_type", .choice(["gpt_neox"], expected: "gpt_neox"), .required()),
            .init("hidden_size", .integer(1...limits.hidden), .required()),
            .init("intermediate_size", .integer(1...limits.intermediate), .required()),
            .init("num_attention_heads", .integer(1...limits.heads), .required()),
            .init("num_hidden_layers", .integer(1...limits.layers), .required()),
            .init("vocab_size", .integer(1...limits.vocab), .required()),
            .init("max_position_embeddings", .integer(1...limits.context)),
            .init("layer_norm_eps", .number(.positive)),
            .init("hidden_act", .string),
            .init("use_parallel_residual", .boolean),
            .init("attention_bias", .boolean),
            .init("tie_word_embeddings", .boolean),
            .init("rotary_pct", .number(.atLeastZero)),
            .init("rotary_emb_base", .number(.positive)),
            .init("rope_theta", .number(.positive)),
            .init("rope_parameters", .object),
            .init("rope_scaling", .object),
        ]
        for entry in ["rope_parameters.", "rope_scaling."] {
            fields += [.init(entry + "rope_theta", .number(.positive)), .init(entry + "rope_type", .string),
                       .init(entry + "type", .string), .init(entry + "factor", .number(.positive)),
                       .init(entry + "partial_rotary_factor", .number(.atLeastZero))]
        }
        for key in ["bos_token_id", "eos_token_id", "pad_token_id"] { fields.append(.init(key, .integers(-1...Int(Int32.max)))) }
        return ConfigSchema(fields)
    }()

    /// Token ids as `parse` reads them: -1 (and null) mean none; anything else must be a token.
    static func tokenList(_ reader: ConfigValues, _ key: String, vocab: Int) throws -> [Int32] {
        let ids = try reader.ints(key) ?? []
        if let id = ids.first(where: { $0 >= vocab }) { throw reader.bad(key, "\(id) is outside -1...\(vocab - 1) (the vocabulary)") }
        return ids.filter { $0 >= 0 }.map { Int32($0) }
    }

    /// The ungated MLP's GELU by its transformers name: `gelu` is the exact (erf) form, the others
    /// the tanh approximation (`gelu_new` is GPT-2's; all three compute the same formula).
    static func geluActivation(_ name: String, key: String, reader: ConfigValues) throws -> Activation {
        switch name {
        case "gelu": return .geluErf
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
        default: throw reader.bad(key, "'\(name.prefix(40))' is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast)")
        }
    }

    static func parseGPT2(_ root: JSONValue, path: String) throws -> ModelConfig {
        let reader = try gpt2Schema.read(root, path: path)
        func int(_ key: String) throws -> Int { try reader.required(key, reader.int) }
        // Variants Lantern does not run: refusing them beats running another model.
        if try reader.bool("scale_attn_by_inverse_layer_idx") == true {
            throw reader.bad("scale_attn_by_inverse_layer_idx", "true is not supported (a per-layer attention scale)")
        }
        if try reader.bool("add_cross_attention") == true {
            throw reader.bad("add_cross_attention", "true is not supported (an encoder-decoder's cross-attention)")
        }
        let hidden = try int("n_embd"), heads = try int("n_head"), layers = try int("n_layer"), vocab = try int("vocab_size")
        guard hidden % heads == 0 else { throw reader.bad("n_head", "\(heads) does not divide n_embd \(hidden)") }
        let headDim = hidden / heads
        let scaled = try reader.bool("scale_attn_weights") ?? true
        // No RoPE: the rotary parameters are never used, and rotate nothing.
        let noRope = RopeParams(theta: 10_000, rotaryDim: 0)
        var config = ModelConfig(
            family: .gpt2, vocabSize: vocab, hiddenSize: hidden,
            intermediateSize: try reader.int("n_inner") ?? 4 * hidden,
            layerCount: layers, heads: heads, kvHeads: heads, headDim: headDim,
            rmsEps: try reader.double("layer_norm_epsilon").map(Float.init) ?? 1e-5,
            ropeGlobal: noRope, ropeLocal: noRope,
            attentionScale: scaled ? 1 / Float(headDim).squareRoot() : 1,
            slidingWindow: nil, slidingLayers: Array(repeating: false, count: layers),
            attentionSoftcap: nil, finalSoftcap: nil,
            tiedEmbeddings: try reader.bool("tie_word_embeddings") ?? true,
            activation: try geluActivation(try reader.string("activation_function") ?? "gelu_new", key: "activation_function", reader: reader),
            contextLength: try reader.int("n_positions") ?? 1024,
            bosToken: try tokenList(reader, "bos_token_id", vocab: vocab).first,
            eosTokens: try tokenList(reader, "eos_token_id", vocab: vocab),
            padToken: try tokenList(reader, "pad_token_id", vocab: vocab).first)
        config.positions = .learned
        config.attentionBiases = true
        try config.validate(path: path, keys: .gpt2)
        return config
    }

    static func parseGPTNeoX(_ root: JSONValue, path: String) throws -> ModelConfig {
        let reader = try gptNeoXSchema.read(root, path: path)
        func int(_ key: String) throws -> Int { try reader.required(key, reader.int) }
        func float(_ key: String) throws -> Float? { try reader.double(key).map(Float.init) }
        let hidden = try int("hidden_size"), heads = try int("num_attention_heads"), layers = try int("num_hidden_layers")
        let vocab = try int("vocab_size")
        // transformers' GPT-NeoX attention splits the width evenly (it reads no head_dim).
        guard hidden % heads == 0 else { throw reader.bad("num_attention_heads", "\(heads) does not divide hidden_size \(hidden)") }
        let headDim = hidden / heads

        // RoPE on the first int(head_dim · partial_rotary_factor) dimensions of each head, halves
        // rotated within them (NeoX's rotate_half); the rest pass through.
        let factorKey = try reader.has("rope_parameters.partial_rotary_factor") ? "rope_parameters.partial_rotary_factor" : "rotary_pct"
        let factor = try reader.double(factorKey) ?? 0.25
        guard factor <= 1 else { throw reader.bad(factorKey, "\(factor) is more than 1 (the whole head)") }
        let rotaryDim = Int(Double(headDim) * factor)
        guard rotaryDim % 2 == 0 else {
            throw reader.bad(factorKey, "\(factor) rotates \(rotaryDim) of the head's \(headDim) dimensions, an odd number")
        }
        let entry = try reader.has("rope_parameters") ? "rope_parameters." : try reader.has("rope_scaling") ? "rope_scaling." : nil
        var scale: Float = 1
        if let entry {
            let type = try reader.string(entry + "rope_type") ?? reader.string(entry + "type") ?? "default"
            switch type {
            case "default": break
            case "linear": scale = try float(entry + "factor") ?? 1
            default: throw reader.bad(entry + "rope_type", "'\(type)' is not supported (default, linear)")
            }
        }
        let theta = try float("rope_parameters.rope_theta") ?? float("rotary_emb_base") ?? float("rope_theta") ?? 10_000
        let rope = RopeParams(theta: theta, pairing: .half, positionScale: scale, rotaryDim: rotaryDim)
        var config = ModelConfig(
            family: .gptNeoX, vocabSize: vocab, hiddenSize: hidden, intermediateSize: try int("intermediate_size"),
            layerCount: layers, heads: heads, kvHeads: heads, headDim: headDim,
            rmsEps: try float("layer_norm_eps") ?? 1e-5,
            ropeGlobal: rope, ropeLocal: rope,
            attentionScale: 1 / Float(headDim).squareRoot(),
            slidingWindow: nil, slidingLayers: Array(repeating: false, count: layers),
            attentionSoftcap: nil, finalSoftcap: nil,
            tiedEmbeddings: try reader.bool("tie_word_embeddings") ?? false,
            activation: try geluActivation(try reader.string("hidden_act") ?? "gelu", key: "hidden_act", reader: reader),
            contextLength: try reader.int("max_position_embeddings") ?? 2048,
            bosToken: try tokenList(reader, "bos_token_id", vocab: vocab).first,
            eosTokens: try tokenList(reader, "eos_token_id", vocab: vocab),
            padToken: try tokenList(reader, "pad_token_id", vocab: vocab).first)
        config.parallelResidual = try reader.bool("use_parallel_residual") ?? true
        config.attentionBiases = try reader.bool("attention_bias") ?? true
        try config.validate(path: path, keys: .gptNeoX)
        return config
    }
}

extension ModelConfig.FieldNames {
    /// GPT-2's config.json names for what `validate` checks.
    public static let gpt2: Self = {
        var names = Self.huggingFace
        (names.layers, names.heads, names.headDim, names.hidden) = ("n_layer", "n_head", "n_embd / n_head", "n_embd")
        (names.intermediate, names.context, names.rmsEps) = ("n_inner", "n_positions", "layer_norm_epsilon")
        return names
    }()

    /// GPT-NeoX's config.json names for what `validate` checks.
    public static let gptNeoX: Self = {
        var names = Self.huggingFace
        (names.headDim, names.rmsEps, names.ropeTheta) = ("hidden_size / num_attention_heads", "layer_norm_eps", "rotary_emb_base")
        return names
    }()
}
