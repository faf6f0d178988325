import Foundation
import LanternCore

/// Plain, obviously-correct versions of every op, on host arrays, in the order of the formulas.
/// Slow on purpose: the CPU kernels and the Vulkan shaders are tested against these.
public enum Reference {
    /// out[i, j] = Σ_k x[i, k] · w[j, k]
    public static func matmul(_ x: [Float], _ w: [Float], n: Int, k: Int, m: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n * m)
        for i in 0..<n {
            for j in 0..<m {
                var s: Float = 0
                for kk in 0..<k { s += x[i * k + kk] * w[j * k + kk] }
                out[i * m + j] = s
            }
        }
        return out
    }

    /// out[j, i] = x[i, j] for x [n, m].
    public static func transpose(_ x: [Float], n: Int, m: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n * m)
        for i in 0..<n { for j in 0..<m { out[j * n + i] = x[i * m + j] } }
        return out
    }

    public static func rmsNorm(_ x: [Float], weight: [Float], eps: Float, form: RMSNormForm) -> [Float] {
        let d = weight.count
        var out = x
        for r in 0..<(x.count / d) {
            var ss: Float = 0
            for i in 0..<d { ss += x[r * d + i] * x[r * d + i] }
            let inv = 1 / (ss / Float(d) + eps).squareRoot()
            for i in 0..<d {
                let g = form == .gemma ? 1 + weight[i] : weight[i]
                out[r * d + i] = x[r * d + i] * inv * g
            }
        }
        return out
    }

    /// (x − mean) / √(var + eps) · w + b per row, the biased variance, in the order of the formula.
    public static func layerNorm(_ x: [Float], weight: [Float], bias: [Float], eps: Float) -> [Float] {
        let d = weight.count
        var out = x
        for r in 0..<(x.count / d) {
            var mean: Float = 0
            for i in 0..<d { mean += x[r * d + i] }
            mean /= Float(d)
            var variance: Float = 0
            for i in 0..<d { variance += (x[r * d + i] - mean) * (x[r * d + i] - mean) }
            variance /= Float(d)
            let inv = 1 / (variance + eps).squareRoot()
            for i in 0..<d { out[r * d + i] = (x[r * d + i] - mean) * inv * weight[i] + bias[i] }
        }
        return out
    }

    public static func rope(_ x: [Float], heads: Int, headDim: Int, start: Int, params: RopeParams) -> [Float] {
        var out = x
        let width = heads * headDim, half = params.rotaryDim / 2
        for r in 0..<(x.count / width) {
            let pos = Float(start + r)
            for h in 0..<heads {
                let base = r * width + h * headDim
                for i in 0..<half {
                    let angle = pos * (RopeParams.inverseFrequency(i, rotaryDim: params.rotaryDim, theta: params.theta) / params.positionScale)
                    let (a, b) = params.pairing == .half ? (base + i, base + i + half) : (base + 2 * i, base + 2 * i + 1)
                    out[a] = x[a] * Float(cos(Double(angle))) - x[b] * Float(sin(Double(angle)))
                    out[b] = x[b] * Float(cos(Double(angle))) + x[a] * Float(sin(Double(angle)))
                }
            }
        }
        return out
    }

    /// Returns (z [n, H·D], pattern [H, n, keyCount]).
    public static func attention(q: [Float], k: [Float], v: [Float], n: Int, queryStart: Int, keyCount: Int,
                                 params p: AttentionParams) -> (out: [Float], pattern: [Float]) {
        let qw = p.heads * p.headDim, kw = p.kvHeads * p.headDim
        var out = [Float](repeating: 0, count: n * qw)
        var pattern = [Float](repeating: 0, count: p.heads * n * keyCount)
        for h in 0..<p.heads {
            let kvh = h / (p.heads / p.kvHeads)
            for i in 0..<n {
                let pos = queryStart + i
                var scores = [Float](repeating: -.infinity, count: keyCount)
                for j in 0..<keyCount {
                    if j > pos { continue }
                    if let w = p.window, pos - j >= w { continue }
                    var s: Float = 0
                    for d in 0..<p.headDim { s += q[i * qw + h * p.headDim + d] * k[j * kw + kvh * p.headDim + d] }
                    s *= p.scale
                    if let cap = p.softcap { s = cap * tanh(s / cap) }
                    scores[j] = s
                }
                let mx = scores.max() ?? 0
                let e = scores.map { $0 == -.infinity ? 0 : exp($0 - mx) }
                let total = e.reduce(0, +)
                for j in 0..<keyCount {
                    let prob = e[j] / total
                    pattern[(h * n + i) * keyCount + j] = prob
                    for d in 0..<p.headDim { out[i * qw + h * p.headDim + d] += prob * v[j * kw + kvh * p.headDim + d] }
                }
            }
        }
        return (out, pattern)
    }

    public static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + tanh((2 / Float.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    /// x · Φ(x) = 0.5 · x · (1 + erf(x / √2)), as torch's exact GELU.
    public static func geluErf(_ x: Float) -> Float { 0.5 * x * (1 + erf(x / Float(2).squareRoot())) }

    public static func gelu(_ x: [Float], approximation: GELUApproximation) -> [Float] {
        x.map { approximation == .tanh ? geluTanh($0) : geluErf($0) }
    }

    public static func silu(_ x: Float) -> Float { x / (1 + exp(-x)) }

    public static func gegluTanh(gate: [Float], up: [Float]) -> [Float] { zip(gate, up).map { geluTanh($0) * $1 } }
    public static func swiglu(gate: [Float], up: [Float]) -> [Float] { zip(gate, up).map { silu($0) * $1 } }
    public static func softcap(_ x: [Float], cap: Float) -> [Float] { x.map { cap * tanh($0 / cap) } }

    public static func embed(_ tokens: [Int32], table: [Float], width: Int, scale: Float) -> [Float] {
        tokens.flatMap { t in (0..<width).map { table[Int(t) * width + $0] * scale } }
    }
}
