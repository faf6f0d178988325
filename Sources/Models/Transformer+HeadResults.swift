import LanternCore

/// Per-head attention outputs (`blocks.L.attn.hook_result`, TransformerLens's `use_attn_result`)
/// and the pieces of the model that direct logit attribution reads.
extension Transformer {
    /// Each head's output [n, heads·hidden]: head h's z slice times its slice of W_O, before the
    /// sum over heads and before the post-attention norm (Gemma, OLMo 2). Row i holds heads 0, 1, … in order.
    ///
    /// Computed as one product of a block-diagonal spread of z (row (i, h) keeps only head h's
    /// columns) with the whole W_O, so that every stored weight type (quantised included) works
    /// without slicing the weight. It costs `heads` times the output projection, and only runs
    /// when a hook asks for it.
    func headResults(_ z: Tensor, layer l: Int) throws -> Tensor {
        let (heads, headDim) = (config.heads, config.headDim)
        let n = z.rowCount, width = heads * headDim
        let values = try backend.read(z)
        var spread = [Float](repeating: 0, count: n * heads * width)
        for i in 0..<n {
            for h in 0..<heads {
                let from = i * width + h * headDim, to = (i * heads + h) * width + h * headDim
                for j in 0..<headDim { spread[to + j] = values[from + j] }
            }
        }
        let perHead = try backend.matmul(try backend.tensor(spread, shape: [n * heads, width]), blocks[l].o)
        return try perHead.reshaped([n, heads * config.hiddenSize])
    }

    /// The sum over heads of a (possibly intervened) hook_result: the attention branch before
    /// the post-attention norm (Gemma, OLMo 2), as the forward pass continues with it.
    func sumHeads(_ result: Tensor) throws -> Tensor {
        let (heads, d) = (config.heads, config.hiddenSize)
        let values = try backend.read(result)
        let n = result.rowCount
        var sum = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            for h in 0..<heads {
                let from = (i * heads + h) * d
                for j in 0..<d { sum[i * d + j] += values[from + j] }
            }
        }
        return try backend.tensor(sum, shape: [n, d])
    }

    /// The gain of layer l's norm on the attention's output (ln1_post) as the forward pass applies
    /// it ((1 + w) in Gemma's form), or nil where the attention branch enters the residual
    /// unnormalised (Llama-style blocks, whose `post_attention_layernorm` is the MLP's input norm).
    public func postAttentionGain(layer l: Int) throws -> [Float]? {
        guard blocks.indices.contains(l) else {
            throw LanternError.invalidArgument("layer \(l) is out of range: the model has \(config.layerCount) layers (0..<\(config.layerCount))")
        }
        return try blocks[l].ln1Post.map { try gain(of: $0) }
    }

    /// What layer l's attention branch adds at every position whatever its pattern: each head's
    /// share of the value bias through W_O (a pattern's rows sum to 1), plus the output
    /// projection's bias (GPT-2, GPT-NeoX), [hidden]; nil where neither exists (all but Qwen 2 and
    /// the GPT families). With frozen patterns it is the branch's one constant term, which no node
    /// of an attribution graph accounts for.
    public func attentionValueBias(layer l: Int) throws -> [Float]? {
        guard blocks.indices.contains(l) else {
            throw LanternError.invalidArgument("layer \(l) is out of range: the model has \(config.layerCount) layers (0..<\(config.layerCount))")
        }
        let w = blocks[l]
        guard w.vBias != nil || w.oBias != nil else { return nil }
        var constant = [Float](repeating: 0, count: config.hiddenSize)
        if let vBias = w.vBias {
            let c = config, group = c.heads / c.kvHeads, bias = try backend.read(vBias)
            var z = [Float](repeating: 0, count: c.heads * c.headDim)
            for h in 0..<c.heads {
                for j in 0..<c.headDim { z[h * c.headDim + j] = bias[(h / group) * c.headDim + j] }
            }
            constant = try backend.read(try backend.matmul(try backend.tensor(z, shape: [1, c.heads * c.headDim]), w.o))
        }
        if let oBias = w.oBias { constant = zip(constant, try backend.read(oBias)).map(+) }
        return constant
    }

    /// The unembedding rows of `tokens` [count, hidden] as f32, whatever their storage: the
    /// directions whose dot product with the final-normed residual gives those tokens' logits.
    public func unembeddingRows(_ tokens: [Int32]) throws -> Tensor {
        try backend.embed(tokens, table: unembedding, scale: 1)
    }
}
