import Formats
import LanternCore

/// One block's weights, HF layout ([out, in]), adopted by the backend in their stored dtype.
struct BlockWeights {
    let inputNorm: Tensor
    /// Gemma: the norm on the attention branch. Llama: the norm before the MLP.
    let postAttentionNorm: Tensor
    /// Gemma only: the norms before and after the MLP.
    let preFeedforwardNorm: Tensor?
    let postFeedforwardNorm: Tensor?
    /// Gemma 3 only: per-head norms of q and k.
    let qNorm: Tensor?
    let kNorm: Tensor?
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

    func block(_ l: Int) throws -> BlockWeights {
        let c = config
        let d = c.hiddenSize, qw = c.heads * c.headDim, kw = c.kvHeads * c.headDim, f = c.intermediateSize
        let p = "layers.\(l)."
        let gemma = c.family != .llama
        return BlockWeights(
            inputNorm: try load(p + "input_layernorm.weight", [d], why: "hidden_size"),
            postAttentionNorm: try load(p + "post_attention_layernorm.weight", [d], why: "hidden_size"),
            preFeedforwardNorm: gemma ? try load(p + "pre_feedforward_layernorm.weight", [d], why: "hidden_size") : nil,
            postFeedforwardNorm: gemma ? try load(p + "post_feedforward_layernorm.weight", [d], why: "hidden_size") : nil,
            qNorm: c.qkNorm ? try load(p + "self_attn.q_norm.weight", [c.headDim], why: "head_dim") : nil,
            kNorm: c.qkNorm ? try load(p + "self_attn.k_norm.weight", [c.headDim], why: "head_dim") : nil,
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
