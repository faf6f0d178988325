import LanternCore

/// The pieces of a block that the single-sequence and the batched forward passes share, where the
/// families differ: the embedding (GPT-2's positions), RMSNorm or LayerNorm, q/k/v biases, QK-norm
/// (per head or over the whole projection), the norms on a branch's output (Gemma, OLMo 2), the
/// MLP (gated, or GPT's plain GELU) and the residual sum (GPT-NeoX's parallel blocks). Each
/// activation goes through `visit`, the caller's hook point for that name in layer l.
extension Transformer {
    typealias Visit = (_ name: String, _ x: Tensor) throws -> Tensor

    /// The residual stream entering block 0 for `tokens` at `positions`: the token embedding
    /// (hook_embed, × √d in Gemma), plus GPT-2's learned position embedding of each position
    /// (hook_pos_embed), as TransformerLens's resid_pre = embed + pos_embed.
    func embed(_ tokens: [Int32], positions: some Sequence<Int>, visit: Visit) throws -> Tensor {
        let b = backend
        let x = try visit(HookNames.embed, try b.embed(tokens, table: embedding, scale: config.embeddingScale))
        guard let positionEmbedding else { return x }
        let rows = positions.map { Int32($0) }
        return try b.add(x, try visit(HookNames.posEmbed, try b.embed(rows, table: positionEmbedding, scale: 1)))
    }

    /// The model's norm of rows x: LayerNorm where it has a bias (GPT-2, GPT-NeoX), else RMSNorm in
    /// the family's gain form.
    func applyNorm(_ x: Tensor, _ norm: Norm) throws -> Tensor {
        if let bias = norm.bias { return try backend.layerNorm(x, weight: norm.weight, bias: bias, eps: config.rmsEps) }
        return try backend.rmsNorm(x, weight: norm.weight, eps: config.rmsEps, form: config.normForm)
    }

    /// x + bias (broadcast over rows), or x where there is none.
    func withBias(_ x: Tensor, _ bias: Tensor?) throws -> Tensor {
        guard let bias else { return x }
        return try backend.add(x, bias)
    }

    /// A block's output from its branches: x + mlp_out after x already took attn_out (hook_resid_mid)
    /// in a sequential block; in a parallel one (GPT-NeoX), (mlp_out + attn_out) + x, transformers'
    /// order of the two additions, from the block's input x.
    func residualSum(_ x: Tensor, _ attnOut: Tensor, _ mlpOut: Tensor) throws -> Tensor {
        guard config.parallelResidual else { return try backend.add(x, mlpOut) }
        return try backend.add(try backend.add(mlpOut, attnOut), x)
    }

    /// q, k and v of layer l from the attention's input rows `h` (hook_q/k/v: the projections,
    /// with their biases), then q and k through the QK-norm where the family has one
    /// (hook_q_normed, hook_k_normed). RoPE comes after, at each sequence's positions.
    func attentionInputs(_ h: Tensor, layer l: Int, visit: Visit) throws -> (q: Tensor, k: Tensor, v: Tensor) {
        let w = blocks[l], names = self.names[l]
        var q = try visit(names.q, try project(h, w.q, bias: w.qBias))
        var k = try visit(names.k, try project(h, w.k, bias: w.kBias))
        let v = try visit(names.v, try project(h, w.v, bias: w.vBias))
        if let qNorm = w.qNorm, let kNorm = w.kNorm {
            q = try visit(names.qNormed, try self.qkNorm(q, qNorm))
            k = try visit(names.kNormed, try self.qkNorm(k, kNorm))
        }
        return (q, k, v)
    }

    /// x · wᵀ (+ bias): `nn.Linear`, whose bias transformers adds after the product.
    func project(_ x: Tensor, _ w: Tensor, bias: Tensor?) throws -> Tensor {
        let y = try backend.matmul(x, w)
        guard let bias else { return y }
        return try backend.add(y, bias)
    }

    /// QK-norm of q or k [n, heads·headDim]: RMSNorm over each head's dimensions (Gemma 3, Qwen 3),
    /// or over the whole row (OLMo 2, whose gain spans every head).
    func qkNorm(_ x: Tensor, _ weight: Tensor) throws -> Tensor {
        let c = config
        guard c.qkNorm == .perHead else { return try backend.rmsNorm(x, weight: weight, eps: c.rmsEps, form: c.normForm) }
        let rows = try x.reshaped([x.count / c.headDim, c.headDim])
        return try backend.rmsNorm(rows, weight: weight, eps: c.rmsEps, form: c.normForm).reshaped(x.shape)
    }

    /// A branch's output through its norm before the residual add (ln1_post, ln2_post), or as it
    /// is where the family has none.
    func branchNorm(_ x: Tensor, _ weight: Tensor?) throws -> Tensor {
        guard let weight else { return x }
        return try backend.rmsNorm(x, weight: weight, eps: config.rmsEps, form: config.normForm)
    }

    /// Layer l's MLP on its input rows `h2`. Gated: the gate and up projections (hook_pre,
    /// hook_pre_linear), their product through the activation (hook_post) and the down projection,
    /// before any output norm. Plain (GPT): the input projection with its bias (hook_pre), GELU
    /// (hook_post), and the output projection with its bias.
    func mlp(_ h2: Tensor, layer l: Int, visit: Visit) throws -> (pre: Tensor, preLinear: Tensor?, post: Tensor, out: Tensor) {
        let w = blocks[l], names = self.names[l], b = backend
        guard let gateWeight = w.gate else {
            let pre = try visit(names.mlpPre, try project(h2, w.up, bias: w.upBias))
            let post = try visit(names.mlpPost, try b.gelu(pre, approximation: config.geluApproximation))
            return (pre, nil, post, try project(post, w.down, bias: w.downBias))
        }
        let gate = try visit(names.mlpPre, try b.matmul(h2, gateWeight))
        let up = try visit(names.mlpPreLinear, try b.matmul(h2, w.up))
        let act = config.activation == .geluTanh ? try b.gegluTanh(gate: gate, up: up) : try b.swiglu(gate: gate, up: up)
        let post = try visit(names.mlpPost, act)
        return (gate, up, post, try b.matmul(post, w.down))
    }
}
