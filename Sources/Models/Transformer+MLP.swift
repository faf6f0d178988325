import LanternCore

/// The pieces of an MLP block that neuron dashboards need: where a neuron writes, and the norm its
/// output passes through before it reaches the residual stream.
extension Transformer {
    /// post · W_downᵀ [n, hidden] for MLP activations `post` [n, d_mlp] (blocks.l.mlp.hook_post):
    /// layer l's MLP output before the post-feedforward norm (Gemma, OLMo 2). With a one-hot row it is the
    /// neuron's output column W_down[:, n], whatever the weights' storage (quantised included).
    public func mlpDown(_ post: Tensor, layer l: Int) throws -> Tensor {
        guard blocks.indices.contains(l) else {
            throw LanternError.invalidArgument("layer \(l) is out of range: the model has \(config.layerCount) layers (0..<\(config.layerCount))")
        }
        guard post.width == config.intermediateSize else {
            throw LanternError.shapeMismatch(op: "mlpDown", detail: "activation width \(post.width) ≠ d_mlp \(config.intermediateSize)")
        }
        return try backend.matmul(post, blocks[l].down)
    }

    /// The gain of layer l's post-feedforward RMSNorm (ln2_post) as the forward pass applies it
    /// ((1 + w) in Gemma's form), or nil where the MLP output enters the residual stream
    /// unnormalised (Llama-style blocks).
    public func postFeedforwardGain(layer l: Int) throws -> [Float]? {
        guard blocks.indices.contains(l) else {
            throw LanternError.invalidArgument("layer \(l) is out of range: the model has \(config.layerCount) layers (0..<\(config.layerCount))")
        }
        return try blocks[l].ln2Post.map { try gain(of: $0) }
    }
}
