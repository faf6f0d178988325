import Formats
import LanternCore

/// One block's weights, HF layout ([out, in]), adopted by the backend in their stored dtype, under
/// TransformerLens's names for the norms (HF's names differ by family: `WeightLoader.block`).
struct BlockWeights {
    /// The norms on the inputs of attention and the MLP (nil in OLMo 2).
    let ln1, ln2: Tensor?
    /// The norms on the outputs of attention and the MLP, before the residual add (Gemma, OLMo 2).
    let ln1Post, ln2Post: Tensor?
    /// QK-norm gains: [headDim] per head (Gemma 3, Qwen 3) or the projection's width (OLMo 2).
    let qNorm, kNorm: Tensor?
    /// Qwen 2's projection biases, as f32 rows (the backends' broadcast add reads f32).
    let qBias, kBias, vBias: Tensor?
    let q, k, v, o: Tensor
    let gate, up, down: Tensor
}

/// Reads and checks the weights of a model against its configuration.
struct WeightLoader {
    let source: any WeightSource
    let config: ModelConfig
    let backend: any Backend
    let prefix: String

    init(source: any WeightSource, config: ModelConfig, backend: any Backend) {
        self.source = source
        self.config = config
        self.backend = backend
        // Multimodal Gemma 3 checkpoints nest the text model.
        prefix = ["model.", "language_model.model.", "model.language_model."].first {
            source.has($0 + "embed_tokens.weight")
        } ?? "model."
    }

    /// Refuses weights for layers the configuration does not have: running the first few layers
    /// of a deeper checkpoint would silently compute another model.
    func checkNoExtraLayers() throws {
        let marker = prefix + "layers."
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
        let full = name.hasPrefix("lm_head") ? name : prefix + name
        let host = try source.tensor(full)
        guard host.shape == shape else {
            throw LanternError.badFile(path: source.location, field: full,
                                       problem: "shape \(host.shape) contradicts config.json, which implies \(shape) (\(why))")
        }
        return try backend.weight(host)
    }

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
        // HF names by family: Llama-style blocks call the MLP's input norm post_attention_layernorm;
        // Gemma and OLMo 2 use that name for the norm on the attention's output.
        let gemma = c.family.isGemma
        let (qNormWidth, kNormWidth) = c.qkNorm == .whole ? (qw, kw) : (c.headDim, c.headDim)
        let qkNormWhy = c.qkNorm == .whole ? "num_attention_heads / num_key_value_heads × head_dim" : "head_dim"
        func bias(_ name: String, _ width: Int, _ why: String) throws -> Tensor? {
            c.qkvBias ? try loadFloats(p + "self_attn.\(name).bias", [width], why: why) : nil
        }
        return BlockWeights(
            ln1: try norm(c.preNorms ? "input_layernorm" : nil),
            ln2: try norm(!c.preNorms ? nil : gemma ? "pre_feedforward_layernorm" : "post_attention_layernorm"),
            ln1Post: try norm(c.postNorms ? "post_attention_layernorm" : nil),
            ln2Post: try norm(c.postNorms ? "post_feedforward_layernorm" : nil),
            qNorm: c.qkNorm == nil ? nil : try load(p + "self_attn.q_norm.weight", [qNormWidth], why: qkNormWhy),
            kNorm: c.qkNorm == nil ? nil : try load(p + "self_attn.k_norm.weight", [kNormWidth], why: qkNormWhy),
            qBias: try bias("q_proj", qw, "num_attention_heads × head_dim"),
            kBias: try bias("k_proj", kw, "num_key_value_heads × head_dim"),
            vBias: try bias("v_proj", kw, "num_key_value_heads × head_dim"),
            q: try load(p + "self_attn.q_proj.weight", [qw, d], why: "num_attention_heads × head_dim, hidden_size"),
            k: try load(p + "self_attn.k_proj.weight", [kw, d], why: "num_key_value_heads × head_dim, hidden_size"),
            v: try load(p + "self_attn.v_proj.weight", [kw, d], why: "num_key_value_heads × head_dim, hidden_size"),
            o: try load(p + "self_attn.o_proj.weight", [d, qw], why: "hidden_size, num_attention_heads × head_dim"),
            gate: try load(p + "mlp.gate_proj.weight", [f, d], why: "intermediate_size, hidden_size"),
            up: try load(p + "mlp.up_proj.weight", [f, d], why: "intermediate_size, hidden_size"),
            down: try load(p + "mlp.down_proj.weight", [d, f], why: "hidden_size, intermediate_size")
        )
    }
}
