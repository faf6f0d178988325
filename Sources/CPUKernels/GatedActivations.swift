import LanternCore

/// The gated MLP activations, eight lanes at a time: GELU (tanh approximation) and SiLU times the
/// up projection. Both are written as x·σ(z): gelu_tanh(x) = 0.5·x·(1 + tanh u) = x / (1 + e^(−2u))
/// with u = √(2/π)(x + 0.044715x³), and silu(x) = x / (1 + e^(−x)), so one `exp8` (≤ 2 ulp of
/// expf) replaces libm's scalar tanhf/expf per element, and no 1 + tanh u cancels for negative u.
/// Within 1e-5 relative of double-precision GELU/SiLU (ActivationKernelTests; the worst case is
/// GELU near x = −3.5, where the f32 form 0.5·x·(1 + tanh u) that transformers computes cancels to
/// a few bits and is the less accurate of the two).
enum GatedActivations {
    @inline(__always) static func geluTanh8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let u = (x + 0.044715 * x * x * x) * 0.797_884_56
        return x / (1 + LogitStatistics.exp8(clampedExponent(-2 * u)))
    }

    @inline(__always) static func silu8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        x / (1 + LogitStatistics.exp8(clampedExponent(-x)))
    }

    /// exp8 is valid below ~88.7; above 88, x / (1 + e^88) is already below f32's smallest normal
    /// for every x that gets there. NaN passes through.
    @inline(__always) static func clampedExponent(_ z: SIMD8<Float>) -> SIMD8<Float> {
        z.replacing(with: 88, where: z .> 88)
    }

    /// out = f(gate) · up, element-wise, over the cores.
    static func run(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                    count: Int, gelu: Bool) {
        let args = UncheckedBox((gate, up, out))
        Parallel.forRanges((count + 7) / 8, minChunk: 1024) { range in
            let (gate, up, out) = args.value
            for c in range {
                let i = 8 * c
                if i + 8 <= count {
                    let g = UnsafeRawPointer(gate + i).loadUnaligned(as: SIMD8<Float>.self)
                    let u = UnsafeRawPointer(up + i).loadUnaligned(as: SIMD8<Float>.self)
                    let y = (gelu ? geluTanh8(g) : silu8(g)) * u
                    UnsafeMutableRawPointer(out + i).storeBytes(of: y, as: SIMD8<Float>.self)
                } else {
                    var g = SIMD8<Float>()
                    for t in i..<count { g[t - i] = gate[t] }
                    let y = gelu ? geluTanh8(g) : silu8(g)
                    for t in i..<count { out[t] = y[t - i] * up[t] }
                }
            }
        }
    }
}
