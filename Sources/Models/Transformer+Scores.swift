import Foundation
import LanternCore

/// `blocks.L.attn.hook_attn_scores`: the attention scores before the softmax, as TransformerLens
/// names them — q·k scaled, softcapped (Gemma 2), and −∞ where the causal mask or the sliding
/// window hides a key — [heads, n, keys].
///
/// The backend's attention fuses scores, softmax and P·V and never materialises the scores, so
/// they are made here on the host, and only when a hook asks. An edit to them feeds the pass: the
/// pattern becomes the softmax of the edited scores (what transformers' eager attention does to
/// the weights it softmaxes), and z its product with the values (Transformer+Pattern).
extension Transformer {
    /// Scores [heads, n, keyCount] of the queries `q` [n, heads·headDim] at positions
    /// `queryStart…` over the first `keyCount` rows of `keys` [≥ keyCount, kvHeads·headDim].
    func attentionScores(q: Tensor, keys: Tensor, queryStart: Int, keyCount: Int, params p: AttentionParams) throws -> Tensor {
        let n = q.rowCount, dh = p.headDim, group = p.heads / p.kvHeads
        let qw = p.heads * dh, kw = p.kvHeads * dh
        let qs = try backend.read(q), ks = try backend.read(try keys.rows(0..<keyCount))
        var scores = [Float](repeating: -.infinity, count: p.heads * n * keyCount)
        qs.withUnsafeBufferPointer { qp in
            ks.withUnsafeBufferPointer { kp in
                scores.withUnsafeMutableBufferPointer { sp in
                    Parallel.forEach(p.heads) { h in
                        let kvh = h / group
                        for i in 0..<n {
                            let pos = queryStart + i
                            let first = p.window.map { max(0, pos - $0 + 1) } ?? 0
                            for j in first..<min(pos + 1, keyCount) {
                                var s = Self.dot(qp.baseAddress! + i * qw + h * dh, kp.baseAddress! + j * kw + kvh * dh, count: dh)
                                s *= p.scale
                                if let cap = p.softcap { s = cap * tanh(s / cap) }
                                sp[(h * n + i) * keyCount + j] = s
                            }
                        }
                    }
                }
            }
        }
        return try backend.tensor(scores, shape: [p.heads, n, keyCount])
    }

    /// The softmax of each [query] row of scores [heads, n, keys] over its keys (−∞ gives 0): the
    /// pattern that edited scores imply.
    func pattern(fromScores scores: Tensor) throws -> Tensor {
        guard scores.shape.count == 3 else {
            throw LanternError.shapeMismatch(op: "attention scores", detail: "\(scores.shape), expected [heads, n, keys]")
        }
        var p = try backend.read(scores)
        let keys = scores.shape[2]
        for row in 0..<(p.count / max(keys, 1)) {
            let r = (row * keys)..<((row + 1) * keys)
            let top = p[r].max() ?? 0
            var total: Float = 0
            for j in r {
                p[j] = p[j] == -.infinity ? 0 : exp(p[j] - top)
                total += p[j]
            }
            for j in r { p[j] /= total }
        }
        return try backend.tensor(p, shape: scores.shape)
    }

    /// Σ a[i]·b[i] in eight lanes (the summation order differs from the backend's kernel only by
    /// rounding). Multiply, then add: this module is built for every x86-64, where a fused
    /// multiply-add would be a libm call per lane.
    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < count { s += a[i] * b[i]; i += 1 }
        return s
    }
}

/// `ln1.hook_scale`, `ln2.hook_scale`, `ln_final.hook_scale`: each row's RMS, √(mean(x²) + ε), or
/// for LayerNorm its standard deviation, √(mean((x − mean x)²) + ε), [n, 1], as TransformerLens
/// names them. The fused norm never materialises it; it is made on the host when a hook asks, and
/// an edit to it feeds the pass: the norm's output becomes x / scale · gain (Gemma's 1 + w or
/// Llama's w), or (x − mean x) / scale · w + b for LayerNorm.
///
/// `hook_normalized` is the norm's output after its gain — and for LayerNorm after its bias too —
/// where TransformerLens's is x / scale (or (x − mean x) / scale) before them: TransformerLens folds
/// gains and biases into the next weights (`fold_ln`), Lantern folds nothing, so the activation
/// the next projection reads is the one hooked, `hook_normalized · W_Qᵀ + b_Q` is `hook_q`, and it
/// equals transformers' own LayerNorm output. `hook_scale` is TransformerLens's in both.
extension Transformer {
    func normScale(_ x: Tensor, layerNorm: Bool) throws -> Tensor {
        let v = try backend.read(x), d = x.width, eps = Double(config.rmsEps)
        var scale = [Float](repeating: 0, count: x.rowCount)
        for r in 0..<x.rowCount {
            let row = (r * d)..<((r + 1) * d)
            let mean = layerNorm ? row.reduce(0.0) { $0 + Double(v[$1]) } / Double(d) : 0
            var ss = 0.0
            for j in row { ss += (Double(v[j]) - mean) * (Double(v[j]) - mean) }
            scale[r] = Float((ss / Double(d) + eps).squareRoot())
        }
        return try backend.tensor(scale, shape: [x.rowCount, 1])
    }

    /// x / scale · gain (RMSNorm) or (x − mean x) / scale · w + b (LayerNorm) for rows x [n, d]
    /// and an edited scale [n, 1].
    func normalized(_ x: Tensor, scale: Tensor, norm: Norm) throws -> Tensor {
        var v = try backend.read(x)
        let s = try backend.read(scale), gain = try gain(of: norm.weight), d = x.width
        let bias = try norm.bias.map { try backend.read($0) }
        for r in 0..<x.rowCount {
            var mean: Float = 0
            if bias != nil {
                for j in 0..<d { mean += v[r * d + j] }
                mean /= Float(d)
            }
            for j in 0..<d { v[r * d + j] = (v[r * d + j] - mean) / s[r] * gain[j] + (bias?[j] ?? 0) }
        }
        return try backend.tensor(v, shape: x.shape)
    }
}
