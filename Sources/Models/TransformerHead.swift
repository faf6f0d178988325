import LanternCore

/// The model's head as training needs it on the host side: the final norm's gain and the
/// unembedding's transpose (for the backward product g · W_U).
extension Transformer {
    /// The final norm's per-dimension multiplier: `1 + w` for Gemma, `w` for Llama and LayerNorm's
    /// weight (GGUF sources already serve Gemma gains as stored − 1, so this is the same for both
    /// formats).
    public func finalNormGain() throws -> [Float] { try gain(of: finalNorm.weight) }

    /// The final LayerNorm's bias (GPT-2, GPT-NeoX); nil for an RMSNorm, which has none.
    public func finalNormBias() throws -> [Float]? { try finalNorm.bias.map { try backend.read($0) } }

    /// An RMSNorm weight as the multiplier the forward pass applies: `1 + w` (Gemma) or `w`.
    func gain(of weight: Tensor) throws -> [Float] {
        let w = try backend.read(weight)
        return config.normForm == .gemma ? w.map { 1 + $0 } : w
    }

    /// W_Uᵀ as an f32 weight [hidden, vocab], widened from the stored dtype: `matmul(g, this)` is
    /// g · W_U [n, hidden] for g [n, vocab]. Costs vocab × hidden × 4 bytes (671 MB for Gemma 3 270M).
    public func unembeddingTransposed() throws -> Tensor {
        let values = try backend.read(unembedding)
        return try backend.transpose(try backend.tensor(values, shape: unembedding.shape))
    }
}
