import Foundation
import LanternCore

/// KL(p ‖ softmax(z)) of one vocabulary row and its gradient, the tuned lens's and SAE
/// fine-tuning's objective (`TunedLensObjective.klAndGradient`). Eight lanes at a time with
/// `LogitStatistics.exp8` (≤ 2 ulp; every exponent here is ≤ 0: z − logΣexp z and log p), where
/// the scalar loop called expf three times per entry and spent a fifth of a lens step there.
/// Lane sums are folded into a Double every 256 entries, so a 262,144-entry row sums as closely
/// as the scalar Double loop did (the kernel tests hold both to a float64 reference).
enum KLDivergence {
    @inline(__always) static func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Entries folded into the Double sums at a time.
    static let fold = 256

    /// log Σ exp z over `count` entries as (max z, log Σ exp(z − max)): log q is then
    /// (z − max) − the second, whose first difference is exact near the max, where a rounded
    /// max + log Σ would shift every q by up to half an ulp of the max. The normaliser is
    /// `LogitStatistics.summary`'s (inlined here, so built for this kernel set's vector units).
    static func logSumExp(_ z: UnsafePointer<Float>, _ count: Int) -> (top: Float, rest: Float) {
        let s = LogitStatistics.summary(UnsafeBufferPointer(start: z, count: count))
        return (s.max, Float(log(s.sumExp)))
    }

    /// Returns KL(p ‖ softmax(z)) = Σ p (log p − log q) and overwrites z with scale · (q − p),
    /// times 1 − (z / softcap)² when `softcap` > 0 (z then holds capped logits: tanh′ from its
    /// output). Entries where p underflows to 0 add nothing to the KL.
    static func klAndGradient(_ z: UnsafeMutablePointer<Float>, logP: UnsafePointer<Float>, count: Int,
                              scale: Float, softcap: Float) -> Double {
        let (top, rest) = logSumExp(z, count)
        let whole = count - count % 8
        let top8 = SIMD8<Float>(repeating: top), rest8 = SIMD8<Float>(repeating: rest), scale8 = SIMD8<Float>(repeating: scale), zero = SIMD8<Float>()
        var cross: Double = 0, i = 0
        while i < whole {
            let end = min(whole, i + fold)
            var c8 = SIMD8<Float>()
            while i < end {
                let zv = load8(z, i), lv = load8(logP, i)
                let logQ = (zv - top8) - rest8
                let q = LogitStatistics.exp8(logQ), p = LogitStatistics.exp8(lv)
                c8 += (p * (lv - logQ)).replacing(with: zero, where: p .== zero)
                var g = scale8 * (q - p)
                if softcap > 0 {
                    let c = zv / softcap
                    g *= 1 - c * c
                }
                UnsafeMutableRawPointer(z + i).storeBytes(of: g, as: SIMD8<Float>.self)
                i += 8
            }
            cross += Double(c8.sum())
        }
        for j in whole..<count {
            let l = logP[j], logQ = (z[j] - top) - rest
            let p = exp(l), q = exp(logQ)
            if p > 0 { cross += Double(p) * Double(l - logQ) }
            var g = scale * (q - p)
            if softcap > 0 {
                let c = z[j] / softcap
                g *= 1 - c * c
            }
            z[j] = g
        }
        return cross
    }
}
