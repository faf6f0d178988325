import CPUKernelChoice
import Foundation
import LanternCore
import Interpretability

/// The tuned lens's loss and its gradient back to the translator's output, derived by hand:
///
///     t = h + h·Wᵀ + b,   n = RMSNorm(t) = t · r · s  (r = (mean(t²) + ε)^−½, s the gain),
///     u = n · W_Uᵀ,       z = cap · tanh(u / cap)  (Gemma 2; z = u otherwise),
///     L = (1/N) Σ_rows KL(p ‖ softmax(z)).
///
///     ∂L/∂z = (q − p) / N                               (q = softmax(z))
///     ∂L/∂u = ∂L/∂z · (1 − (z / cap)²)                   (tanh′ written with the output)
///     ∂L/∂n = ∂L/∂u · W_U                                (a backend matmul with W_Uᵀ as the weight)
///     ∂L/∂t = r · s ⊙ g − t · r³ / d · Σⱼ gⱼ sⱼ tⱼ       (g = ∂L/∂n; the RMSNorm backward)
///     ∂L/∂W = (∂L/∂t)ᵀ · h,   ∂L/∂b = Σ_rows ∂L/∂t
///
/// `TunedLensGradientTests` checks every step against finite differences.
public enum TunedLensObjective {
    /// For each row of lens logits `z` [rows, vocab] (after the softcap, when there is one):
    /// returns KL(p ‖ softmax(z)) per row and overwrites `z` with ∂L/∂u = scale · (q − p) (· the
    /// softcap's derivative). `targetLogP` holds log p for the same rows, or for a block of them
    /// that `z`'s rows repeat (several translators' rows stacked: row r takes target r mod its rows).
    public static func klAndGradient(_ z: inout [Float], targetLogP: [Float], vocab: Int, scale: Float, softcap: Float?) -> [Double] {
        precondition(!targetLogP.isEmpty && z.count % targetLogP.count == 0 && targetLogP.count % vocab == 0,
                     "lens logits \(z.count) against targets \(targetLogP.count)")
        let rows = z.count / vocab, targetRows = targetLogP.count / vocab
        var kl = [Double](repeating: 0, count: rows)
        targetLogP.withUnsafeBufferPointer { lp in
            z.withUnsafeMutableBufferPointer { zb in
                kl.withUnsafeMutableBufferPointer { kb in
                    let (lpp, zp, kp) = (SharedBuffer(pointer: UnsafeMutablePointer(mutating: lp.baseAddress!)),
                                         SharedBuffer(pointer: zb.baseAddress!), SharedBuffer(pointer: kb.baseAddress!))
                    let kernels = KernelChoice.selected
                    Parallel.forRanges(rows) { range in
                        for r in range {
                            let l = lpp.pointer + (r % targetRows) * vocab, row = zp.pointer + r * vocab
                            let cross = kernels.klAndGradient(row, logP: l, count: vocab, scale: scale, softcap: softcap ?? 0)
                            kp.pointer[r] = cross
                        }
                    }
                }
            }
        }
        return kl
    }

    /// The RMSNorm backward: ∂L/∂t for t [rows, width], ∂L/∂n `gradOut` and the gain s
    /// (n = t · r · s, r = (mean(t²) + ε)^−½).
    public static func rmsNormBackward(_ t: [Float], gradOut: [Float], gain: [Float], eps: Float) -> [Float] {
        let width = gain.count
        precondition(t.count == gradOut.count && t.count % width == 0, "RMSNorm backward: \(t.count) against \(gradOut.count)")
        var out = [Float](repeating: 0, count: t.count)
        for row in 0..<(t.count / width) {
            let base = row * width
            var squares: Double = 0, dot: Double = 0
            for i in 0..<width {
                squares += Double(t[base + i]) * Double(t[base + i])
                dot += Double(gradOut[base + i]) * Double(gain[i]) * Double(t[base + i])
            }
            let r = 1 / (squares / Double(width) + Double(eps)).squareRoot()
            let k = dot * r * r * r / Double(width)
            for i in 0..<width {
                out[base + i] = Float(r * Double(gain[i]) * Double(gradOut[base + i]) - Double(t[base + i]) * k)
            }
        }
        return out
    }

    /// The LayerNorm backward (GPT-2, GPT-NeoX): ∂L/∂t for n = (t − mean t) · r · s + b, r =
    /// (var(t) + ε)^−½: r · (ĝ − mean ĝ − t̂ · mean(ĝ ∘ t̂)) with ĝ = s ∘ ∂L/∂n, t̂ = (t − mean t) · r.
    public static func layerNormBackward(_ t: [Float], gradOut: [Float], gain: [Float], eps: Float) -> [Float] {
        let width = gain.count
        precondition(t.count == gradOut.count && t.count % width == 0, "LayerNorm backward: \(t.count) against \(gradOut.count)")
        var out = [Float](repeating: 0, count: t.count)
        for row in 0..<(t.count / width) {
            let base = row * width
            var mean = 0.0
            for i in 0..<width { mean += Double(t[base + i]) }
            mean /= Double(width)
            var variance = 0.0
            for i in 0..<width { variance += (Double(t[base + i]) - mean) * (Double(t[base + i]) - mean) }
            let r = 1 / (variance / Double(width) + Double(eps)).squareRoot()
            var meanG = 0.0, meanGT = 0.0
            for i in 0..<width {
                let g = Double(gain[i]) * Double(gradOut[base + i])
                meanG += g
                meanGT += g * (Double(t[base + i]) - mean) * r
            }
            meanG /= Double(width)
            meanGT /= Double(width)
            for i in 0..<width {
                let g = Double(gain[i]) * Double(gradOut[base + i]), th = (Double(t[base + i]) - mean) * r
                out[base + i] = Float(r * (g - meanG - th * meanGT))
            }
        }
        return out
    }

    /// Σ over rows of a [rows, width] matrix.
    public static func columnSums(_ x: [Float], width: Int) -> [Float] {
        var out = [Double](repeating: 0, count: width)
        for (i, v) in x.enumerated() { out[i % width] += Double(v) }
        return out.map { Float($0) }
    }
}
