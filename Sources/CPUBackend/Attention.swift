import Foundation
import LanternCore

/// Causal (optionally sliding-window, soft-capped) attention with grouped KV heads.
/// One work item per (head, query row): scores, softmax and the weighted sum of values.
enum AttentionKernel {
    static func run(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                    out: UnsafeMutablePointer<Float>, pattern: UnsafeMutablePointer<Float>?,
                    n: Int, queryStart: Int, keyCount: Int, p: AttentionParams) {
        let qw = p.heads * p.headDim, kw = p.kvHeads * p.headDim, d = p.headDim
        let group = p.heads / p.kvHeads
        let args = UncheckedBox((q, k, v, out, pattern))
        Parallel.forRanges(p.heads * n) { range in
            let (q, k, v, out, pattern) = args.value
            var scores = [Float](repeating: 0, count: keyCount)
            var acc = [Float](repeating: 0, count: d)
            for item in range {
                let h = item / n, i = item % n, kvh = h / group
                let pos = queryStart + i
                let hi = min(pos, keyCount - 1)
                let lo = p.window.map { max(0, pos - $0 + 1) } ?? 0
                let qi = q + i * qw + h * d
                var mx = -Float.infinity
                if lo <= hi {
                    for j in lo...hi {
                        var s = dot(qi, k + j * kw + kvh * d, d) * p.scale
                        if let cap = p.softcap { s = cap * tanh(s / cap) }
                        scores[j] = s
                        mx = max(mx, s)
                    }
                }
                var total: Float = 0
                if lo <= hi {
                    for j in lo...hi {
                        let e = exp(scores[j] - mx)
                        scores[j] = e
                        total += e
                    }
                }
                for t in 0..<d { acc[t] = 0 }
                let inv = total > 0 ? 1 / total : 0
                if lo <= hi {
                    for j in lo...hi {
                        let prob = scores[j] * inv
                        scores[j] = prob
                        let vj = v + j * kw + kvh * d
                        for t in 0..<d { acc[t] += prob * vj[t] }
                    }
                }
                let o = out + i * qw + h * d
                for t in 0..<d { o[t] = acc[t] }
                if let pattern {
                    let row = pattern + (h * n + i) * keyCount
                    for j in 0..<keyCount { row[j] = (j >= lo && j <= hi) ? scores[j] : 0 }
                }
            }
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(), i = 0
        while i + 8 <= n {
            acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
                * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }
}
