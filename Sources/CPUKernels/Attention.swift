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
        // One (head, row) item a chunk where there are few: a decode step has only the heads (9 for
        // SmolLM2), and in chunks of two (five chunks) two cores shared them 5:4 at best.
        Parallel.forRanges(p.heads * n, oversplit: 8) { range in
            let (q, k, v, out, pattern) = args.value
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(keyCount, 1))
            defer { scores.deallocate() }
            for item in range {
                let h = item / n, i = item % n, kvh = h / group
                let pos = queryStart + i
                let hi = min(pos, keyCount - 1)
                let lo = p.window.map { max(0, pos - $0 + 1) } ?? 0
                let qi = q + i * qw + h * d
                let o = out + i * qw + h * d
                for t in 0..<d { o[t] = 0 }
                if lo <= hi {
                    var mx = -Float.infinity
                    for j in lo...hi {
                        var s = dot(qi, k + j * kw + kvh * d, d) * p.scale
                        if let cap = p.softcap { s = cap * tanh(s / cap) }
                        scores[j] = s
                        mx = max(mx, s)
                    }
                    let total = exponentiate(scores + lo, count: hi - lo + 1, minus: mx)
                    let inv = total > 0 ? 1 / total : 0
                    for j in lo...hi { scores[j] *= inv }
                    weightedSum(scores, v + kvh * d, kw, lo, hi, o, d)
                }
                if let pattern {
                    let row = pattern + (h * n + i) * keyCount
                    for j in 0..<keyCount { row[j] = (j >= lo && j <= hi) ? scores[j] : 0 }
                }
            }
        }
    }

    /// s ← exp(s − max) for `count` scores (eight lanes at a time, `exp8`: ≤ 2 ulp of expf), and
    /// their sum.
    @inline(__always)
    static func exponentiate(_ s: UnsafeMutablePointer<Float>, count: Int, minus mx: Float) -> Float {
        var lanes = SIMD8<Float>(), j = 0
        while j + 8 <= count {
            let e = LogitStatistics.exp8(UnsafeRawPointer(s + j).loadUnaligned(as: SIMD8<Float>.self) - mx)
            UnsafeMutableRawPointer(s + j).storeBytes(of: e, as: SIMD8<Float>.self)
            lanes += e
            j += 8
        }
        var total = lanes.sum()
        if j < count {
            var rest = SIMD8<Float>(repeating: -.infinity)
            for t in j..<count { rest[t - j] = s[t] - mx }
            let e = LogitStatistics.exp8(rest)
            for t in j..<count { s[t] = e[t - j]; total += e[t - j] }
        }
        return total
    }

    /// o[0..<d] = Σ_j p_j · v_j over j in lo...hi, v_j at `v + j·stride`: 64 outputs at a time held
    /// in eight registers while j runs (the row of outputs never goes back to memory mid-sum).
    @inline(__always)
    static func weightedSum(_ prob: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ stride: Int,
                            _ lo: Int, _ hi: Int, _ o: UnsafeMutablePointer<Float>, _ d: Int) {
        var t = 0
        while t + 64 <= d {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            for j in lo...hi {
                let pj = SIMD8<Float>(repeating: prob[j]), row = UnsafeRawPointer(v + j * stride + t)
                a0.addProduct(pj, row.loadUnaligned(as: SIMD8<Float>.self))
                a1.addProduct(pj, row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
                a2.addProduct(pj, row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
                a3.addProduct(pj, row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
                a4.addProduct(pj, row.loadUnaligned(fromByteOffset: 128, as: SIMD8<Float>.self))
                a5.addProduct(pj, row.loadUnaligned(fromByteOffset: 160, as: SIMD8<Float>.self))
                a6.addProduct(pj, row.loadUnaligned(fromByteOffset: 192, as: SIMD8<Float>.self))
                a7.addProduct(pj, row.loadUnaligned(fromByteOffset: 224, as: SIMD8<Float>.self))
            }
            let out = UnsafeMutableRawPointer(o + t)
            out.storeBytes(of: a0, as: SIMD8<Float>.self)
            out.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
            out.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self)
            out.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
            out.storeBytes(of: a4, toByteOffset: 128, as: SIMD8<Float>.self)
            out.storeBytes(of: a5, toByteOffset: 160, as: SIMD8<Float>.self)
            out.storeBytes(of: a6, toByteOffset: 192, as: SIMD8<Float>.self)
            out.storeBytes(of: a7, toByteOffset: 224, as: SIMD8<Float>.self)
            t += 64
        }
        // The rest of the row (head sizes that are not multiples of 64), one lane at a time.
        while t < d {
            var a: Float = 0
            for j in lo...hi { a += prob[j] * v[j * stride + t] }
            o[t] = a
            t += 1
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(), acc2 = SIMD8<Float>(), i = 0
        while i + 16 <= n {
            acc.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                           UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
            acc2.addProduct(UnsafeRawPointer(a + i + 8).loadUnaligned(as: SIMD8<Float>.self),
                            UnsafeRawPointer(b + i + 8).loadUnaligned(as: SIMD8<Float>.self))
            i += 16
        }
        while i + 8 <= n {
            acc.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                           UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
            i += 8
        }
        var s = Kernels.laneSum(acc + acc2)
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }
}
