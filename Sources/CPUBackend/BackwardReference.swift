import Foundation
import LanternCore

/// Plain, double-precision versions of the forward ops and their backward ops (vector–Jacobian
/// products with respect to the inputs), written straight from the formulas. The tests check each
/// backward here against central finite differences of the forward here (double makes those
/// differences exact to ~1e-9), each forward here against the f32 `Reference`, and the CPU
/// backend's backward kernels against these.
public enum BackwardReference {
    // MARK: Matmul: y = x · wᵀ, x [n, k], w [m, k]

    public static func matmul(_ x: [Double], _ w: [Double], n: Int, k: Int, m: Int) -> [Double] {
        var out = [Double](repeating: 0, count: n * m)
        for i in 0..<n { for j in 0..<m { for kk in 0..<k { out[i * m + j] += x[i * k + kk] * w[j * k + kk] } } }
        return out
    }

    /// dx[i, kk] = Σ_j dy[i, j] · w[j, kk]
    public static func matmulBackward(_ dy: [Double], _ w: [Double], n: Int, k: Int, m: Int) -> [Double] {
        var dx = [Double](repeating: 0, count: n * k)
        for i in 0..<n { for j in 0..<m { for kk in 0..<k { dx[i * k + kk] += dy[i * m + j] * w[j * k + kk] } } }
        return dx
    }

    // MARK: RMSNorm: y = x · r · g, r = (mean(x²) + eps)^(−1/2), g = 1 + w (Gemma) or w (Llama)

    static func gain(_ w: [Double], _ form: RMSNormForm) -> [Double] { form == .gemma ? w.map { 1 + $0 } : w }

    public static func rmsNorm(_ x: [Double], weight: [Double], eps: Double, form: RMSNormForm) -> [Double] {
        let d = weight.count, g = gain(weight, form)
        var out = x
        for r in 0..<(x.count / d) {
            let row = x[(r * d)..<(r * d + d)]
            let inv = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(d) + eps).squareRoot()
            for i in 0..<d { out[r * d + i] = x[r * d + i] * inv * g[i] }
        }
        return out
    }

    /// dx = r · (g ∘ dy) − x · r³ · Σ(g ∘ dy ∘ x) / d; with the scale r frozen, only the first term.
    public static func rmsNormBackward(_ x: [Double], weight: [Double], eps: Double, form: RMSNormForm,
                                       gradient dy: [Double], frozenScale: Bool = false) -> [Double] {
        let d = weight.count, g = gain(weight, form)
        var dx = x
        for r in 0..<(x.count / d) {
            var ss = 0.0, dot = 0.0
            for i in 0..<d { ss += x[r * d + i] * x[r * d + i]; dot += g[i] * dy[r * d + i] * x[r * d + i] }
            let inv = 1 / (ss / Double(d) + eps).squareRoot()
            for i in 0..<d {
                dx[r * d + i] = inv * g[i] * dy[r * d + i] - (frozenScale ? 0 : x[r * d + i] * inv * inv * inv * dot / Double(d))
            }
        }
        return dx
    }

    // MARK: LayerNorm: y = (x − μ) · r · w + b, r = (mean((x − μ)²) + eps)^(−1/2)

    public static func layerNorm(_ x: [Double], weight: [Double], bias: [Double], eps: Double) -> [Double] {
        let d = weight.count
        var out = x
        for r in 0..<(x.count / d) {
            let row = x[(r * d)..<(r * d + d)]
            let mean = row.reduce(0, +) / Double(d)
            let inv = 1 / (row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d) + eps).squareRoot()
            for i in 0..<d { out[r * d + i] = (x[r * d + i] - mean) * inv * weight[i] + bias[i] }
        }
        return out
    }

    /// With ĝ = w ∘ dy and x̂ = (x − μ) · r: dx = r · (ĝ − mean(ĝ) − x̂ · mean(ĝ ∘ x̂)); with the
    /// scale r frozen, dx = r · (ĝ − mean(ĝ)) (the centring is linear).
    public static func layerNormBackward(_ x: [Double], weight: [Double], eps: Double, gradient dy: [Double],
                                         frozenScale: Bool = false) -> [Double] {
        let d = weight.count
        var dx = x
        for r in 0..<(x.count / d) {
            let row = x[(r * d)..<(r * d + d)]
            let mean = row.reduce(0, +) / Double(d)
            let inv = 1 / (row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d) + eps).squareRoot()
            let g = (0..<d).map { weight[$0] * dy[r * d + $0] }
            let xh = (0..<d).map { (x[r * d + $0] - mean) * inv }
            let meanG = g.reduce(0, +) / Double(d)
            let meanGX = frozenScale ? 0 : zip(g, xh).reduce(0) { $0 + $1.0 * $1.1 } / Double(d)
            for i in 0..<d { dx[r * d + i] = inv * (g[i] - meanG - xh[i] * meanGX) }
        }
        return dx
    }

    // MARK: RoPE

    /// The angle of pair i at `position`, computed as the forward kernels compute it (f32 product).
    static func angle(_ i: Int, position: Int, params: RopeParams) -> Double {
        Double(Float(position) * (RopeParams.inverseFrequency(i, rotaryDim: params.rotaryDim, theta: params.theta)
            / params.positionScale))
    }

    /// Rotates every pair by `sign` · θ (sign 1: the forward; −1: its transpose, the backward).
    static func rotate(_ x: [Double], heads: Int, headDim: Int, start: Int, params: RopeParams, sign: Double) -> [Double] {
        var out = x
        let width = heads * headDim, half = params.rotaryDim / 2
        for r in 0..<(x.count / width) {
            for h in 0..<heads {
                let base = r * width + h * headDim
                for i in 0..<half {
                    let t = sign * angle(i, position: start + r, params: params)
                    let (a, b) = params.pairing == .half ? (base + i, base + i + half) : (base + 2 * i, base + 2 * i + 1)
                    out[a] = x[a] * cos(t) - x[b] * sin(t)
                    out[b] = x[b] * cos(t) + x[a] * sin(t)
                }
            }
        }
        return out
    }

    public static func rope(_ x: [Double], heads: Int, headDim: Int, start: Int, params: RopeParams) -> [Double] {
        rotate(x, heads: heads, headDim: headDim, start: start, params: params, sign: 1)
    }

    public static func ropeBackward(_ dy: [Double], heads: Int, headDim: Int, start: Int, params: RopeParams) -> [Double] {
        rotate(dy, heads: heads, headDim: headDim, start: start, params: params, sign: -1)
    }

    // MARK: Attention

    /// Whether query position `pos` sees key j.
    static func visible(_ j: Int, _ pos: Int, _ p: AttentionParams) -> Bool {
        j <= pos && (p.window.map { pos - j < $0 } ?? true)
    }

    /// Raw scaled scores s and probabilities P of query i, head h, over `keyCount` keys.
    static func probabilities(q: [Double], k: [Double], i: Int, h: Int, queryStart: Int, keyCount: Int,
                              p: AttentionParams) -> (raw: [Double], prob: [Double]) {
        let qw = p.heads * p.headDim, kw = p.kvHeads * p.headDim, kvh = h / (p.heads / p.kvHeads)
        var raw = [Double](repeating: 0, count: keyCount), capped = [Double](repeating: -.infinity, count: keyCount)
        for j in 0..<keyCount where visible(j, queryStart + i, p) {
            var s = 0.0
            for t in 0..<p.headDim { s += q[i * qw + h * p.headDim + t] * k[j * kw + kvh * p.headDim + t] }
            raw[j] = s * Double(p.scale)
            capped[j] = p.softcap.map { Double($0) * tanh(raw[j] / Double($0)) } ?? raw[j]
        }
        let mx = capped.max() ?? 0
        let e = capped.map { $0 == -.infinity ? 0 : exp($0 - mx) }
        let total = e.reduce(0, +)
        return (raw, e.map { $0 / total })
    }

    /// z [n, H·D] for q [n, H·D] and k, v [keyCount, KV·D].
    public static func attention(q: [Double], k: [Double], v: [Double], n: Int, queryStart: Int, keyCount: Int,
                                 params p: AttentionParams) -> [Double] {
        let qw = p.heads * p.headDim, kw = p.kvHeads * p.headDim
        var out = [Double](repeating: 0, count: n * qw)
        for h in 0..<p.heads {
            let kvh = h / (p.heads / p.kvHeads)
            for i in 0..<n {
                let prob = probabilities(q: q, k: k, i: i, h: h, queryStart: queryStart, keyCount: keyCount, p: p).prob
                for j in 0..<keyCount {
                    for t in 0..<p.headDim { out[i * qw + h * p.headDim + t] += prob[j] * v[j * kw + kvh * p.headDim + t] }
                }
            }
        }
        return out
    }

    /// dP_j = dz · v_j; d(capped)_j = P_j (dP_j − Σ P dP); ds_j = that · (1 − tanh²(s_j / cap));
    /// dq += ds_j · scale · k_j; dk_j += ds_j · scale · q; dv_j += P_j · dz.
    public static func attentionBackward(q: [Double], k: [Double], v: [Double], n: Int, queryStart: Int, keyCount: Int,
                                         params p: AttentionParams, gradient dz: [Double])
        -> (dq: [Double], dk: [Double], dv: [Double]) {
        let qw = p.heads * p.headDim, kw = p.kvHeads * p.headDim, d = p.headDim, scale = Double(p.scale)
        var dq = [Double](repeating: 0, count: q.count)
        var dk = [Double](repeating: 0, count: keyCount * kw), dv = dk
        for h in 0..<p.heads {
            let kvh = h / (p.heads / p.kvHeads)
            for i in 0..<n {
                let (raw, prob) = probabilities(q: q, k: k, i: i, h: h, queryStart: queryStart, keyCount: keyCount, p: p)
                var dP = [Double](repeating: 0, count: keyCount)
                for j in 0..<keyCount { for t in 0..<d { dP[j] += dz[i * qw + h * d + t] * v[j * kw + kvh * d + t] } }
                let mean = zip(prob, dP).reduce(0) { $0 + $1.0 * $1.1 }
                for j in 0..<keyCount where prob[j] > 0 {
                    var ds = prob[j] * (dP[j] - mean)
                    if let cap = p.softcap { let th = tanh(raw[j] / Double(cap)); ds *= 1 - th * th }
                    for t in 0..<d {
                        dq[i * qw + h * d + t] += ds * scale * k[j * kw + kvh * d + t]
                        dk[j * kw + kvh * d + t] += ds * scale * q[i * qw + h * d + t]
                        dv[j * kw + kvh * d + t] += prob[j] * dz[i * qw + h * d + t]
                    }
                }
            }
        }
        return (dq, dk, dv)
    }

    // MARK: Activations and the softcap

    static let geluC = (2 / Double.pi).squareRoot()

    public static func geluTanh(_ x: Double) -> Double { 0.5 * x * (1 + tanh(geluC * (x + 0.044715 * x * x * x))) }

    public static func geluTanhDerivative(_ x: Double) -> Double {
        let t = tanh(geluC * (x + 0.044715 * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * geluC * (1 + 3 * 0.044715 * x * x)
    }

    public static func geluErf(_ x: Double) -> Double { 0.5 * x * erfc(-x / 2.0.squareRoot()) }

    /// Φ(x) + x · φ(x).
    public static func geluErfDerivative(_ x: Double) -> Double {
        0.5 * erfc(-x / 2.0.squareRoot()) + x * exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
    }

    public static func gelu(_ x: [Double], approximation: GELUApproximation) -> [Double] {
        x.map { approximation == .tanh ? geluTanh($0) : geluErf($0) }
    }

    public static func geluBackward(_ x: [Double], approximation: GELUApproximation, gradient dy: [Double]) -> [Double] {
        x.indices.map { dy[$0] * (approximation == .tanh ? geluTanhDerivative(x[$0]) : geluErfDerivative(x[$0])) }
    }

    public static func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

    public static func siluDerivative(_ x: Double) -> Double {
        let s = 1 / (1 + exp(-x))
        return s * (1 + x * (1 - s))
    }

    public static func geglu(gate: [Double], up: [Double]) -> [Double] { zip(gate, up).map { geluTanh($0) * $1 } }
    public static func swiglu(gate: [Double], up: [Double]) -> [Double] { zip(gate, up).map { silu($0) * $1 } }

    public static func gegluBackward(gate: [Double], up: [Double], gradient dy: [Double]) -> (dGate: [Double], dUp: [Double]) {
        (gate.indices.map { dy[$0] * up[$0] * geluTanhDerivative(gate[$0]) }, gate.indices.map { dy[$0] * geluTanh(gate[$0]) })
    }

    public static func swigluBackward(gate: [Double], up: [Double], gradient dy: [Double]) -> (dGate: [Double], dUp: [Double]) {
        (gate.indices.map { dy[$0] * up[$0] * siluDerivative(gate[$0]) }, gate.indices.map { dy[$0] * silu(gate[$0]) })
    }

    public static func softcap(_ x: [Double], cap: Double) -> [Double] { x.map { cap * tanh($0 / cap) } }

    public static func softcapBackward(_ x: [Double], cap: Double, gradient dy: [Double]) -> [Double] {
        x.indices.map { let t = tanh(x[$0] / cap); return dy[$0] * (1 - t * t) }
    }
}
