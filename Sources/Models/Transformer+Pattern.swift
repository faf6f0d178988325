import LanternCore

/// An intervention on `blocks.L.attn.hook_pattern` feeds the rest of the pass: the attention
/// output is recomputed as the edited probabilities times the values, z = P · V per head, which is
/// what transformers' eager attention does after its softmax (`attn_weights @ value_states`).
///
/// The backend's attention fuses softmax and P·V and never materialises P unless asked, so the
/// product is done here on the host, and only when an intervention may have changed the pattern.
extension Transformer {
    /// The backend's attention for queries `q` at positions `start…`: the pattern is made only
    /// when a hook wants `patternName`, goes through `visit`, and when an intervention may have
    /// changed it, z is the values averaged with what came back.
    func attention(q: Tensor, keys: Tensor, values: Tensor, start: Int, params: AttentionParams, hooks: Hooks?,
                   patternName: String, visit: (Tensor) throws -> Tensor) throws -> Tensor {
        let keyCount = start + q.rowCount
        let attended = try backend.attention(q: q, k: keys, v: values, queryStart: start, keyCount: keyCount,
                                             params: params, wantPattern: hooks?.wants(patternName) ?? false)
        guard let pattern = attended.pattern else { return attended.out }
        let seen = try visit(pattern)
        return hooks?.intervenes(patternName) == true ? try attend(pattern: seen, values: values, keyCount: keyCount) : attended.out
    }

    /// z [n, heads·headDim] from a pattern [heads, n, keyCount] and the first `keyCount` rows of
    /// `values` [≥ keyCount, kvHeads·headDim]; query head h reads kv head h / (heads / kvHeads).
    func attend(pattern: Tensor, values: Tensor, keyCount: Int) throws -> Tensor {
        let (heads, kvHeads, dh) = (config.heads, config.kvHeads, config.headDim)
        guard pattern.shape.count == 3, pattern.shape[0] == heads, pattern.shape[2] == keyCount else {
            throw LanternError.shapeMismatch(op: "attention pattern", detail: "\(pattern.shape) for \(heads) heads over \(keyCount) keys")
        }
        let n = pattern.shape[1], group = heads / kvHeads, kvWidth = kvHeads * dh
        let p = try backend.read(pattern), v = try backend.read(try values.rows(0..<keyCount))
        var z = [Float](repeating: 0, count: n * heads * dh)
        for h in 0..<heads {
            let kv = (h / group) * dh
            for i in 0..<n {
                let row = (h * n + i) * keyCount, out = (i * heads + h) * dh
                for key in 0..<keyCount {
                    let weight = p[row + key]
                    if weight == 0 { continue }
                    let from = key * kvWidth + kv
                    for j in 0..<dh { z[out + j] += weight * v[from + j] }
                }
            }
        }
        return try backend.tensor(z, shape: [n, heads * dh])
    }
}
