import Foundation
import LanternCore

/// The pieces GPT-2 and GPT-NeoX need beside the gated families' kernels: LayerNorm with its bias,
/// and GELU on its own (their MLPs are not gated). Tested against `Reference.layerNorm` and
/// `Reference.gelu` on every instruction-set build (InstructionSetTests).
enum LayerNormKernels {
    /// (x − mean) / √(var + eps) · w + b per row, as `torch.nn.LayerNorm` computes it: the mean
    /// first, then the biased variance of the centred row (two passes, so a row far from zero
    /// loses nothing to cancellation), eight lanes with four running sums each.
    static func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ out: UnsafeMutablePointer<Float>, rows: Int, d: Int, eps: Float) {
        let args = UncheckedBox((x, w, b, out))
        Parallel.forRanges(rows, minChunk: max(1, 16384 / max(d, 1))) { range in
            let (x, w, b, out) = args.value
            for r in range {
                let xr = x + r * d, o = out + r * d
                let mean = sum(xr, d, shift: 0, squares: false) / Float(d)
                let variance = sum(xr, d, shift: mean, squares: true) / Float(d)
                let inv = 1 / (variance + eps).squareRoot()
                for i in 0..<d { o[i] = (xr[i] - mean) * inv * w[i] + b[i] }
            }
        }
    }

    /// Σ (x − shift) or Σ (x − shift)² over a row.
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ d: Int, shift: Float, squares: Bool) -> Float {
        typealias V = SIMD8<Float>
        let raw = UnsafeRawPointer(x), s = V(repeating: shift)
        var acc = V(), acc1 = acc, acc2 = acc, acc3 = acc, i = 0
        @inline(__always) func term(_ v: V) -> V { squares ? (v - s) * (v - s) : v - s }
        while i + 32 <= d {
            acc += term(raw.loadUnaligned(fromByteOffset: 4 * i, as: V.self))
            acc1 += term(raw.loadUnaligned(fromByteOffset: 4 * i + 32, as: V.self))
            acc2 += term(raw.loadUnaligned(fromByteOffset: 4 * i + 64, as: V.self))
            acc3 += term(raw.loadUnaligned(fromByteOffset: 4 * i + 96, as: V.self))
            i += 32
        }
        acc = (acc + acc1) + (acc2 + acc3)
        while i + 8 <= d { acc += term(raw.loadUnaligned(fromByteOffset: 4 * i, as: V.self)); i += 8 }
        var total = Kernels.laneSum(acc)
        while i < d {
            let v = x[i] - shift
            total += squares ? v * v : v
            i += 1
        }
        return total
    }

    /// dx = inv · (ĝ − mean(ĝ) − x̂ · mean(ĝ ∘ x̂)) per row, with ĝ = g ∘ dy, x̂ = (x − mean) · inv,
    /// sums in double; the last term goes when the scale is frozen (the centring is linear and stays).
    static func backward(_ x: UnsafePointer<Float>, _ g: [Float], _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                         rows: Int, d: Int, eps: Float, frozenScale: Bool) {
        let args = UncheckedBox((x, g, dy, dx))
        Parallel.forRanges(rows, minChunk: max(1, 16384 / max(d, 1))) { range in
            let (x, g, dy, dx) = args.value
            for r in range {
                let xr = x + r * d, dyr = dy + r * d, o = dx + r * d
                var mean = 0.0
                for i in 0..<d { mean += Double(xr[i]) }
                mean /= Double(d)
                var variance = 0.0
                for i in 0..<d { variance += (Double(xr[i]) - mean) * (Double(xr[i]) - mean) }
                let inv = 1 / (variance / Double(d) + Double(eps)).squareRoot()
                var meanG = 0.0, meanGX = 0.0
                for i in 0..<d {
                    let gh = Double(g[i]) * Double(dyr[i])
                    meanG += gh
                    meanGX += gh * (Double(xr[i]) - mean) * inv
                }
                meanG /= Double(d)
                meanGX = frozenScale ? 0 : meanGX / Double(d)
                for i in 0..<d {
                    let gh = Double(g[i]) * Double(dyr[i]), xh = (Double(xr[i]) - mean) * inv
                    o[i] = Float(inv * (gh - meanG - xh * meanGX))
                }
            }
        }
    }
}

/// GELU without a gate. The tanh form reuses the gated kernel's lanes (`GatedActivations.geluTanh8`,
/// within 1e-5 relative of double precision); the exact form is x · Φ(x) = 0.5 · x · erfc(−x/√2)
/// with libm's erfc, which keeps its relative accuracy where 1 + erf(x/√2) would cancel (x ≪ 0).
enum PlainActivations {
    static func gelu(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int, approximation: GELUApproximation) {
        let args = UncheckedBox((x, out))
        Parallel.forRanges((count + 7) / 8, minChunk: 1024) { range in
            let (x, out) = args.value
            for c in range {
                let i = 8 * c, end = min(i + 8, count)
                switch approximation {
                case .tanh:
                    var v = SIMD8<Float>()
                    for t in i..<end { v[t - i] = x[t] }
                    let y = GatedActivations.geluTanh8(v)
                    for t in i..<end { out[t] = y[t - i] }
                case .erf:
                    for t in i..<end { out[t] = geluErf(x[t]) }
                }
            }
        }
    }

    @inline(__always) static func geluErf(_ x: Float) -> Float {
        0.5 * x * erfc(-x * 0.707_106_77)
    }
}
