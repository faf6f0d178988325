import Foundation
import LanternCore

/// The backward kernels of the row-wise ops (RMSNorm, RoPE) and of attention: threads over rows
/// or heads, each writing a disjoint part of its output. Tested against `BackwardReference`.
enum BackwardKernels {
    /// dx = r · (g ∘ dy) − x · r³ · Σ(g ∘ dy ∘ x) / d per row, sums in double; the second term
    /// goes when the scale r is frozen.
    static func rmsNorm(_ x: UnsafePointer<Float>, _ g: [Float], _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                        rows: Int, d: Int, eps: Float, frozenScale: Bool) {
        let args = UncheckedBox((x, g, dy, dx))
        Parallel.forRanges(rows, minChunk: max(1, 16384 / max(d, 1))) { range in
            let (x, g, dy, dx) = args.value
            for r in range {
                let xr = x + r * d, dyr = dy + r * d, o = dx + r * d
                var ss = 0.0, dot = 0.0
                for i in 0..<d {
                    ss += Double(xr[i]) * Double(xr[i])
                    dot += Double(g[i]) * Double(dyr[i]) * Double(xr[i])
                }
                let inv = 1 / (ss / Double(d) + Double(eps)).squareRoot()
                let correction = frozenScale ? 0 : inv * inv * inv * dot / Double(d)
                for i in 0..<d { o[i] = Float(inv * Double(g[i]) * Double(dyr[i]) - Double(xr[i]) * correction) }
            }
        }
    }

    /// The transpose of `Kernels.rope`: each pair rotated by −θ, with θ computed exactly as the
    /// forward computes it.
    static func ropeTransposed(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int,
                               headDim: Int, start: Int, params: RopeParams) {
        Kernels.rope(dy, dx, rows: rows, heads: heads, headDim: headDim, start: start, params: params, inverse: true)
    }

    /// Attention backward in two passes, so that no two threads add into the same row:
    /// 1. per (head, query): recompute the probabilities P as the forward does, then
    ///    dS_j = P_j (dz·v_j − Σ P dz·v) · softcap′ · scale, and dq = Σ_j dS_j k_j;
    /// 2. per (KV head, key): dk_j = Σ_{heads, queries} dS q and dv_j = Σ P dz.
    /// P and dS are kept as [H, n, keyCount].
    static func attention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                          dz: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                          dv: UnsafeMutablePointer<Float>, n: Int, queryStart: Int, keyCount: Int, p: AttentionParams) {
        let qw = p.heads * p.headDim, kw = p.kvHeads * p.headDim, d = p.headDim, group = p.heads / p.kvHeads
        let probs = UnsafeMutablePointer<Float>.allocate(capacity: max(1, p.heads * n * keyCount))
        let dScores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, p.heads * n * keyCount))
        probs.initialize(repeating: 0, count: max(1, p.heads * n * keyCount))
        dScores.initialize(repeating: 0, count: max(1, p.heads * n * keyCount))
        defer { probs.deallocate(); dScores.deallocate() }
        let args = UncheckedBox((q, k, v, dz, dq, dk, dv, probs, dScores))

        Parallel.forRanges(p.heads * n) { range in
            let (q, k, v, dz, dq, _, _, probs, dScores) = args.value
            var capDerivative = [Float](repeating: 1, count: keyCount)
            for item in range {
                let h = item / n, i = item % n, kvh = h / group
                let pos = queryStart + i
                let hi = min(pos, keyCount - 1)
                let lo = p.window.map { max(0, pos - $0 + 1) } ?? 0
                let qi = q + i * qw + h * d, dzi = dz + i * qw + h * d
                let prob = probs + (h * n + i) * keyCount, ds = dScores + (h * n + i) * keyCount
                let dqi = dq + i * qw + h * d
                for t in 0..<d { dqi[t] = 0 }
                guard lo <= hi else { continue }
                // Scores, softmax: the forward kernel's arithmetic, in its order.
                var mx = -Float.infinity
                for j in lo...hi {
                    var s = AttentionKernel.dot(qi, k + j * kw + kvh * d, d) * p.scale
                    if let cap = p.softcap {
                        let th = tanh(s / cap)
                        s = cap * th
                        capDerivative[j] = 1 - th * th
                    }
                    prob[j] = s
                    mx = max(mx, s)
                }
                var total: Float = 0
                for j in lo...hi { prob[j] = exp(prob[j] - mx); total += prob[j] }
                let inv = 1 / total
                var mean: Float = 0
                for j in lo...hi {
                    prob[j] *= inv
                    ds[j] = AttentionKernel.dot(dzi, v + j * kw + kvh * d, d)  // dP_j for now
                    mean += prob[j] * ds[j]
                }
                for j in lo...hi {
                    ds[j] = prob[j] * (ds[j] - mean) * capDerivative[j] * p.scale
                    let kj = k + j * kw + kvh * d
                    for t in 0..<d { dqi[t] += ds[j] * kj[t] }
                }
            }
        }

        Parallel.forRanges(p.kvHeads * keyCount) { range in
            let (q, _, _, dz, _, dk, dv, probs, dScores) = args.value
            for item in range {
                let kvh = item / keyCount, j = item % keyCount
                let dkj = dk + j * kw + kvh * d, dvj = dv + j * kw + kvh * d
                for t in 0..<d { dkj[t] = 0; dvj[t] = 0 }
                for h in (kvh * group)..<((kvh + 1) * group) {
                    // Queries at or after key j (earlier ones cannot see it).
                    for i in max(0, j - queryStart)..<n {
                        let ds = dScores[(h * n + i) * keyCount + j], pr = probs[(h * n + i) * keyCount + j]
                        if ds == 0 && pr == 0 { continue }
                        let qi = q + i * qw + h * d, dzi = dz + i * qw + h * d
                        for t in 0..<d { dkj[t] += ds * qi[t]; dvj[t] += pr * dzi[t] }
                    }
                }
            }
        }
    }
}
