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

/// One sequence's hooks in a forward pass, with the absolute positions of its rows: what the
/// single-sequence and the batched passes hand the steps whose hook points need more than a visit.
struct SequenceHooks {
    let hooks: Hooks
    let positions: Range<Int>
    let backend: any Backend

    func callAsFunction(_ name: String, _ x: Tensor, _ layer: Int?) throws -> Tensor {
        try hooks.visit(name, x, layer: layer, positions: positions, backend: backend)
    }
}

extension Transformer {
    /// The norm (RMSNorm or LayerNorm) with its two hook points: the scale (made only when asked;
    /// an edit to it feeds the output) and the normalized output.
    func norm(_ x: Tensor, _ weights: Norm, scale: String, normalized: String, layer: Int?,
              hooks: SequenceHooks?) throws -> Tensor {
        var out = try applyNorm(x, weights)
        guard let hooks else { return out }
        if hooks.hooks.wants(scale) {
            let s = try hooks(scale, try normScale(x, layerNorm: weights.bias != nil), layer)
            if hooks.hooks.intervenes(scale) { out = try self.normalized(x, scale: s, norm: weights) }
        }
        return try hooks(normalized, out, layer)
    }

    /// Attention's z before `hook_z` for queries `q` at positions `start…` over the first
    /// `start + n` rows of `keys` and `values`, with the scores and pattern hook points: the backend's
    /// fused attention unless a hook edits the scores (then their softmax is the pattern) or the
    /// pattern (then the values are averaged with the edited one).
    func attentionValues(q: Tensor, keys: Tensor, values: Tensor, start: Int, layer l: Int,
                         hooks: SequenceHooks?) throws -> Tensor {
        let names = self.names[l], params = config.attentionParams(layer: l), keyCount = start + q.rowCount
        if let hooks, hooks.hooks.wants(names.scores) {
            let scores = try hooks(names.scores, try attentionScores(q: q, keys: keys, queryStart: start, keyCount: keyCount,
                                                                    params: params), l)
            if hooks.hooks.intervenes(names.scores) {
                let pattern = try hooks(names.pattern, try pattern(fromScores: scores), l)
                return try attend(pattern: pattern, values: values, keyCount: keyCount)
            }
        }
        return try attention(q: q, keys: keys, values: values, start: start, params: params, hooks: hooks?.hooks,
                             patternName: names.pattern) { try hooks?(names.pattern, $0, l) ?? $0 }
    }
}
