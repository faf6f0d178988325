import LanternCore

/// The model's parameters by TransformerLens's names, for front-ends that expose them as
/// attributes (Python's `W_Q`, `blocks[l].mlp.W_out`, …). Matrices keep the layout the forward
/// pass multiplies by — [out, in], as Hugging Face stores them — and front-ends present them in
/// TransformerLens's shapes. Nothing is folded: a norm's `w` is its gain as the forward pass applies
/// it (Gemma's 1 + weight, Llama's weight), and `ln*.hook_normalized` is the norm's output after
/// that gain, so `hook_normalized · W_Qᵀ` is `hook_q` here as `hook_normalized @ W_Q` is in a
/// TransformerLens model whose gains were folded into W_Q.
extension Transformer {
    /// Every name `parameter(_:)` answers, blocks in order.
    public var parameterNames: [String] {
        let c = config
        var names = ["embed.W_E"] + (c.positions == .learned ? ["pos_embed.W_pos"] : [])
        let inputNorm = { (b: String) in c.preNorms ? [b + ".w"] + (c.layerNorm ? [b + ".b"] : []) : [] }
        for l in 0..<c.layerCount {
            let b = "blocks.\(l)."
            names += inputNorm(b + "ln1")
            names += [b + "attn.W_Q", b + "attn.W_K", b + "attn.W_V", b + "attn.W_O"]
            if c.qkvBias { names += [b + "attn.b_Q", b + "attn.b_K", b + "attn.b_V"] }
            if c.outputBias { names += [b + "attn.b_O"] }
            if c.qkNorm != nil { names += [b + "attn.q_norm.w", b + "attn.k_norm.w"] }
            if c.postNorms { names += [b + "ln1_post.w"] }
            names += inputNorm(b + "ln2")
            names += (c.gatedMLP ? [b + "mlp.W_gate"] : []) + [b + "mlp.W_in", b + "mlp.W_out"]
            if !c.gatedMLP { names += [b + "mlp.b_in", b + "mlp.b_out"] }
            if c.postNorms { names += [b + "ln2_post.w"] }
        }
        return names + ["ln_final.w"] + (c.layerNorm ? ["ln_final.b"] : []) + ["unembed.W_U"]
    }

    /// The parameter `name` (one of `parameterNames`): matrices [out, in] as stored (q/k/v
    /// [heads·headDim, hidden], o [hidden, heads·headDim], gate/up [mlp, hidden], down [hidden,
    /// mlp], W_E and W_U [vocab, hidden], GPT-2's W_pos [n_positions, hidden]); norm gains and
    /// LayerNorm biases [width]; the projections' biases b_Q [heads·headDim], b_K and b_V
    /// [kvHeads·headDim] (Qwen 2, GPT), b_O [hidden], b_in [mlp] and b_out [hidden] (GPT).
    public func parameter(_ name: String) throws -> Tensor {
        if name == "embed.W_E" { return embedding }
        if name == "pos_embed.W_pos", let positionEmbedding { return positionEmbedding }
        if name == "unembed.W_U" { return unembedding }
        if name == "ln_final.w" { return try gainTensor(finalNorm.weight) }
        if name == "ln_final.b", let bias = finalNorm.bias { return bias }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blocks", let l = Int(parts[1]), (0..<config.layerCount).contains(l) else {
            throw LanternError.invalidArgument("no parameter '\(name)' (see parameterNames: embed.W_E, blocks.L.attn.W_Q, …)")
        }
        let w = blocks[l]
        let found: Tensor? = switch parts[2] {
        case "ln1.w": try w.ln1.map { try gainTensor($0.weight) }
        case "ln1.b": w.ln1?.bias
        case "ln1_post.w": try w.ln1Post.map(gainTensor)
        case "ln2.w": try w.ln2.map { try gainTensor($0.weight) }
        case "ln2.b": w.ln2?.bias
        case "ln2_post.w": try w.ln2Post.map(gainTensor)
        case "attn.q_norm.w": try w.qNorm.map(gainTensor)
        case "attn.k_norm.w": try w.kNorm.map(gainTensor)
        case "attn.W_Q": w.q
        case "attn.W_K": w.k
        case "attn.W_V": w.v
        case "attn.W_O": w.o
        case "attn.b_Q": w.qBias
        case "attn.b_K": w.kBias
        case "attn.b_V": w.vBias
        case "attn.b_O": w.oBias
        case "mlp.W_gate": w.gate
        case "mlp.W_in": w.up
        case "mlp.W_out": w.down
        case "mlp.b_in": w.upBias
        case "mlp.b_out": w.downBias
        default: nil
        }
        guard let found else {
            throw LanternError.invalidArgument("no parameter '\(name)' in this model (see parameterNames)")
        }
        return found
    }

    /// A norm's multiplier as the forward pass applies it (Llama's weight as it is).
    private func gainTensor(_ weight: Tensor) throws -> Tensor {
        guard config.normForm == .gemma else { return weight }
        return try backend.tensor(try gain(of: weight), shape: weight.shape)
    }
}
