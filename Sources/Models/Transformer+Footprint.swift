import LanternCore

/// What one token costs in weights read and arithmetic: `bench` puts its decode speed beside
/// the memory bandwidth (decode reads every weight once per token) and its prefill and tracing
/// speed beside the arithmetic they need.
extension Transformer {
    /// Bytes of weights one decode step reads: every block's matrices and norms, the final norm
    /// and the unembedding (the one embedding row it gathers is left out).
    public var weightBytesPerToken: Int {
        var total = finalNorm.weight.byteCount + (finalNorm.bias?.byteCount ?? 0) + unembedding.byteCount
        for w in blocks {
            for t in [w.q, w.k, w.v, w.o, w.up, w.down] { total += t.byteCount }
            let optional = [w.gate, w.ln1?.weight, w.ln1?.bias, w.ln2?.weight, w.ln2?.bias, w.ln1Post, w.ln2Post, w.qNorm, w.kNorm,
                            w.qBias, w.kBias, w.vBias, w.oBias, w.upBias, w.downBias]
            for t in optional { total += t?.byteCount ?? 0 }
        }
        return total
    }

    /// Multiply-adds of one block's weight matrices per token (attention's own products left out).
    public var blockMultiplyAddsPerToken: Int {
        guard let w = blocks.first else { return 0 }
        return [w.q, w.k, w.v, w.o, w.up, w.down].reduce(w.gate?.count ?? 0) { $0 + $1.count }
    }

    /// Multiply-adds of the unembedding per row of logits.
    public var unembeddingMultiplyAddsPerRow: Int { unembedding.count }
}
