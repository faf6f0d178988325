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
        var names = ["embed.W_E"]
        for l in 0..<config.layerCount {
            let b = "blocks.\(l)."
            if config.preNorms { names += [b + "ln1.w"] }
            names += [b + "attn.W_Q", b + "attn.W_K", b + "attn.W_V", b + "attn.W_O"]
            if config.qkvBias { names += [b + "attn.b_Q", b + "attn.b_K", b + "attn.b_V"] }
            if config.qkNorm != nil { names += [b + "attn.q_norm.w", b + "attn.k_norm.w"] }
            if config.postNorms { names += [b + "ln1_post.w"] }
            if config.preNorms { names += [b + "ln2.w"] }
            names += [b + "mlp.W_gate", b + "mlp.W_in", b + "mlp.W_out"]
            if config.postNorms { names += [b + "ln2_post.w"] }
        }
        return names + ["ln_final.w", "unembed.W_U"]
    }

    /// The parameter `name` (one of `parameterNames`): matrices [out, in] as stored (q/k/v
    /// [heads·headDim, hidden], o [hidden, heads·headDim], gate/up [mlp, hidden], down [hidden,
    /// mlp], W_E and W_U [vocab, hidden]); norm gains [width]; Qwen 2's biases b_Q [heads·headDim],
    /// b_K and b_V [kvHeads·headDim].
    public func parameter(_ name: String) throws -> Tensor {
        if name == "embed.W_E" { return embedding }
        if name == "unembed.W_U" { return unembedding }
        if name == "ln_final.w" { return try gainTensor(finalNorm) }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blocks", let l = Int(parts[1]), (0..<config.layerCount).contains(l) else {
            throw LanternError.invalidArgument("no parameter '\(name)' (see parameterNames: embed.W_E, blocks.L.attn.W_Q, …)")
        }
        let w = blocks[l]
        let found: Tensor? = switch parts[2] {
        case "ln1.w": try w.ln1.map(gainTensor)
        case "ln1_post.w": try w.ln1Post.map(gainTensor)
        case "ln2.w": try w.ln2.map(gainTensor)
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
        case "mlp.W_gate": w.gate
        case "mlp.W_in": w.up
        case "mlp.W_out": w.down
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
