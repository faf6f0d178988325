import Formats
import LanternCore

/// A norm's parameters: RMSNorm's gain, or LayerNorm's weight and bias (GPT-2, GPT-NeoX; both in
/// f32, which the backends' LayerNorm reads). A bias means LayerNorm.
struct Norm {
    let weight: Tensor
    let bias: Tensor?
}

/// The weights outside the blocks.
struct ModelWeights {
    let embedding: Tensor
    /// GPT-2's learned position embedding [n_positions, hidden] (nil: RoPE).
    let positionEmbedding: Tensor?
    let blocks: [BlockWeights]
    let finalNorm: Norm
    let unembedding: Tensor
}

/// One block's weights, HF layout ([out, in]), adopted by the backend in their stored dtype, under
/// TransformerLens's names for the norms (HF's names differ by family: `WeightLoader.block`).
struct BlockWeights {
    /// The norms on the inputs of attention and the MLP (nil in OLMo 2).
    let ln1, ln2: Norm?
    /// The norms on the outputs of attention and the MLP, before the residual add (Gemma, OLMo 2).
    let ln1Post, ln2Post: Tensor?
    /// QK-norm gains: [headDim] per head (Gemma 3, Qwen 3) or the projection's width (OLMo 2).
    let qNorm, kNorm: Tensor?
    /// Qwen 2's, GPT-2's and GPT-NeoX's projection biases, as f32 rows (the backends' broadcast add
    /// reads f32); the output projection's and the MLP's only in the GPT families.
    let qBias, kBias, vBias, oBias: Tensor?
    let q, k, v, o: Tensor
    /// The gate projection of a gated MLP (nil in the GPT families, whose MLP is up → GELU → down).
    let gate: Tensor?
    let up, down: Tensor
    let upBias, downBias: Tensor?
}

/// Reads and checks the weights of a model against its configuration.
struct WeightLoader {
    let source: any WeightSource
    let config: ModelConfig
    let backend: any Backend
    let prefix: String
    /// Where the blocks' names start after the prefix: `layers.` (`h.` in GPT-2).
    let layersName: String

    init(source: any WeightSource, config: ModelConfig, backend: any Backend) {
        self.source = source
        self.config = config
        self.backend = backend
        switch config.family {
        case .gpt2:
            // GPT2LMHeadModel saves under transformer.; the Hub's gpt2 checkpoints were saved bare.
            prefix = ["transformer.", ""].first { source.has($0 + "wte.weight") } ?? "transformer."
            layersName = "h."
        case .gptNeoX:
            prefix = "gpt_neox."
            layersName = "layers."
        default:
            // Multimodal Gemma 3 checkpoints nest the text model.
            prefix = ["model.", "language_model.model.", "model.language_model."].first {
                source.has($0 + "embed_tokens.weight")
            } ?? "model."
            layersName = "layers."
        }
    }

    /// Every weight of the model, checked against the configuration.
    func model() throws -> ModelWeights {
        try checkNoExtraLayers()
        if config.family.isGPT { return try gptModel() }
        let c = config
        let embedding = try load("embed_tokens.weight", [c.vocabSize, c.hiddenSize], why: "vocab_size, hidden_size")
        return ModelWeights(
            embedding: embedding, positionEmbedding: nil,
            blocks: try (0..<c.layerCount).map(block),
            finalNorm: Norm(weight: try load("norm.weight", [c.hiddenSize], why: "hidden_size"), bias: nil),
            unembedding: c.tiedEmbeddings ? embedding
                : try load("lm_head.weight", [c.vocabSize, c.hiddenSize], why: "vocab_size, hidden_size"))
    }

    /// Refuses weights for layers the configuration does not have: running the first few layers
    /// of a deeper checkpoint would silently compute another model.
    func checkNoExtraLayers() throws {
        let marker = prefix + layersName
        var deepest = -1, example = ""
        for name in source.tensorNames where name.hasPrefix(marker) {
            guard let layer = Int(name.dropFirst(marker.count).prefix { $0 != "." }), layer > deepest else { continue }
            (deepest, example) = (layer, name)
        }
        if deepest >= config.layerCount {
            throw LanternError.badFile(path: source.location, field: example,
                                       problem: "weights for layer \(deepest), but the configuration has \(config.layerCount) layers (num_hidden_layers / block_count)")
        }
    }

    /// The tensor `name` (without prefix), checked to have `shape`.
    func load(_ name: String, _ shape: [Int], why: String) throws -> Tensor {
        let full = Self.topLevel(name) ? name : prefix + name
        let host = try source.tensor(full)
        guard host.shape == shape else {
            throw LanternError.badFile(path: source.location, field: full,
                                       problem: "shape \(host.shape) contradicts config.json, which implies \(shape) (\(why))")
        }
        return try backend.weight(host)
    }

    /// The unembeddings sit beside the model's prefix, not under it.
    static func topLevel(_ name: String) -> Bool { name.hasPrefix("lm_head.") || name.hasPrefix("embed_out.") }

    /// The tensor `name` as f32 values (biases: the backends add f32 rows only).
    func loadFloats(_ name: String, _ shape: [Int], why: String) throws -> Tensor {
        let host = try source.tensor(prefix + name)
        guard host.shape == shape else {
            throw LanternError.badFile(path: source.location, field: prefix + name,
                                       problem: "shape \(host.shape) contradicts config.json, which implies \(shape) (\(why))")
        }
        return try backend.tensor(try host.floats(), shape: shape)
    }

    func block(_ l: Int) throws -> BlockWeights {
        let c = config
        let d = c.hiddenSize, qw = c.heads * c.headDim, kw = c.kvHeads * c.headDim, f = c.intermediateSize
        let p = "layers.\(l)."
        func norm(_ name: String?) throws -> Tensor? {
            try name.map { try load(p + $0 + ".weight", [d], why: "hidden_size") }
        }
        func inputNorm(_ name: String?) throws -> Norm? { try norm(name).map { Norm(weight: $0, bias: nil) } }
        // HF names by family: Llama-style blocks call the MLP's input norm post_attention_layernorm;
        // Gemma and OLMo 2 use that name for the norm on the attention's output.
        let gemma = c.family.isGemma
        let (qNormWidth, kNormWidth) = c.qkNorm == .whole ? (qw, kw) : (c.headDim, c.headDim)
        let qkNormWhy = c.qkNorm == .whole ? "num_attention_heads / num_key_value_heads × head_dim" : "head_dim"
        func bias(_ name: String, _ width: Int, _ why: String) throws -> Tensor? {
            c.qkvBias ? try loadFloats(p + "self_attn.\(name).bias", [width], why: why) : nil
        }
        return BlockWeights(
            ln1: try inputNorm(c.preNorms ? "input_layernorm" : nil),
            ln2: try inputNorm(!c.preNorms ? nil : gemma ? "pre_feedforward_layernorm" : "post_attention_layernorm"),
            ln1Post: try norm(c.postNorms ? "post_attention_layernorm" : nil),
            ln2Post: try norm(c.postNorms ? "post_feedforward_layernorm" : nil),
            qNorm: c.qkNorm == nil ? nil : try load(p + "self_attn.q_norm.weight", [qNormWidth], why: qkNormWhy),
            kNorm: c.qkNorm == nil ? nil : try load(p + "self_attn.k_norm.weight", [kNormWidth], why: qkNormWhy),
            qBias: try bias("q_proj", qw, "num_attention_heads × head_dim"),
            kBias: try bias("k_proj", kw, "num_key_value_heads × head_dim"),
            vBias: try bias("v_proj", kw, "num_key_value_heads × head_dim"),
            oBias: nil,
            q: try load(p + "self_attn.q_proj.weight", [qw, d], why: "num_attention_heads × head_dim, hidden_size"),
            k: try load(p + "self_attn.k_proj.weight", [kw, d], why: "num_key_value_heads × head_dim, hidden_size"),
            v: try load(p + "self_attn.v_proj.weight", [kw, d], why: "num_key_value_heads × head_dim, hidden_size"),
            o: try load(p + "self_attn.o_proj.weight", [d, qw], why: "hidden_size, num_attention_heads × head_dim"),
            gate: try load(p + "mlp.gate_proj.weight", [f, d], why: "intermediate_size, hidden_size"),
            up: try load(p + "mlp.up_proj.weight", [f, d], why: "intermediate_size, hidden_size"),
            down: try load(p + "mlp.down_proj.weight", [d, f], why: "hidden_size, intermediate_size"),
            upBias: nil, downBias: nil
        )
    }
}
