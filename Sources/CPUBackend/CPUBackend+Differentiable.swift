import Foundation
import LanternCore

/// The CPU backend's backward ops (see `DifferentiableBackend`; the Vulkan backend has none yet).
extension CPUBackend: DifferentiableBackend {
    public func matmulBackward(_ gradient: Tensor, _ w: Tensor) throws -> Tensor {
        guard w.rank == 2, gradient.width == w.shape[0] else {
            throw LanternError.shapeMismatch(op: "matmulBackward", detail: "gradient \(gradient.shape) · w with w \(w.shape): dY's width must be w's rows")
        }
        let m = w.shape[0], k = w.shape[1], n = gradient.rowCount
        guard k % w.dtype.blockSize == 0 else {
            throw LanternError.shapeMismatch(op: "matmulBackward", detail: "\(w.dtype) weight rows of \(k) are not whole blocks of \(w.dtype.blockSize)")
        }
        let out = make(Array(gradient.shape.dropLast()) + [k])
        kernels.matmulBackward(w.dtype, dy: try gradient.cpuFloats(), w: UnsafeRawPointer(try w.cpuPointer),
                           dx: try out.cpuFloats(), n: n, k: k, m: m)
        return out
    }

    public func rmsNormBackward(_ x: Tensor, weight: Tensor, eps: Float, form: RMSNormForm, gradient: Tensor,
                                frozenScale: Bool) throws -> Tensor {
        guard weight.count == x.width, gradient.count == x.count else {
            throw LanternError.shapeMismatch(op: "rmsNormBackward", detail: "x \(x.shape), weight \(weight.shape), gradient \(gradient.shape)")
        }
        let w = try read(weight)
        let gain = form == .gemma ? w.map { 1 + $0 } : w
        let out = make(x.shape)
        kernels.rmsNormBackward(try x.cpuFloats(), gain: gain, try gradient.cpuFloats(), try out.cpuFloats(),
                                rows: x.rowCount, d: x.width, eps: eps, frozenScale: frozenScale)
        return out
    }

    public func layerNormBackward(_ x: Tensor, weight: Tensor, eps: Float, gradient: Tensor, frozenScale: Bool) throws -> Tensor {
        guard weight.count == x.width, gradient.count == x.count else {
            throw LanternError.shapeMismatch(op: "layerNormBackward", detail: "x \(x.shape), weight \(weight.shape), gradient \(gradient.shape)")
        }
        let out = make(x.shape)
        kernels.layerNormBackward(try x.cpuFloats(), gain: try read(weight), try gradient.cpuFloats(), try out.cpuFloats(),
                                  rows: x.rowCount, d: x.width, eps: eps, frozenScale: frozenScale)
        return out
    }

    public func ropeBackward(_ gradient: Tensor, heads: Int, headDim: Int, start: Int, params: RopeParams) throws -> Tensor {
        try params.checkShape(gradient, heads: heads, headDim: headDim, start: start, op: "ropeBackward")
        let out = make(gradient.shape)
        kernels.ropeTransposed(try gradient.cpuFloats(), try out.cpuFloats(), rows: gradient.rowCount, heads: heads,
                                       headDim: headDim, start: start, params: params)
        return out
    }

    public func attentionBackward(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, params p: AttentionParams,
                                  gradient: Tensor) throws -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        let n = q.rowCount, keyCount = k.rowCount
        try p.checkBackwardShapes(q: q, k: k, v: v, queryStart: queryStart, gradient: gradient)
        let dq = make(q.shape), dk = make(k.shape), dv = make(v.shape)
        kernels.attentionBackward(q: try q.cpuFloats(), k: try k.cpuFloats(), v: try v.cpuFloats(), dz: try gradient.cpuFloats(),
                                  dq: try dq.cpuFloats(), dk: try dk.cpuFloats(), dv: try dv.cpuFloats(),
                                  n: n, queryStart: queryStart, keyCount: keyCount, params: p)
        return (dq, dk, dv)
    }

    public func gegluTanhBackward(gate: Tensor, up: Tensor, gradient: Tensor) throws -> (dGate: Tensor, dUp: Tensor) {
        try gatedBackward("gegluTanhBackward", gate, up, gradient, value: Reference.geluTanh, derivative: Self.geluTanhDerivative)
    }

    public func swigluBackward(gate: Tensor, up: Tensor, gradient: Tensor) throws -> (dGate: Tensor, dUp: Tensor) {
        try gatedBackward("swigluBackward", gate, up, gradient, value: Reference.silu, derivative: Self.siluDerivative)
    }

    public func geluBackward(_ x: Tensor, approximation: GELUApproximation, gradient: Tensor) throws -> Tensor {
        guard gradient.count == x.count else {
            throw LanternError.shapeMismatch(op: "geluBackward", detail: "x \(x.shape), gradient \(gradient.shape)")
        }
        let (xp, gp) = (try x.cpuFloats(), try gradient.cpuFloats())
        let derivative = approximation == .tanh ? Self.geluTanhDerivative : Self.geluErfDerivative
        let out = make(x.shape)
        Self.map(x.count, try out.cpuFloats()) { gp[$0] * derivative(xp[$0]) }
        return out
    }

    public func softcapBackward(_ x: Tensor, cap: Float, gradient: Tensor) throws -> Tensor {
        guard gradient.count == x.count else {
            throw LanternError.shapeMismatch(op: "softcapBackward", detail: "x \(x.shape), gradient \(gradient.shape)")
        }
        let (xp, gp) = (try x.cpuFloats(), try gradient.cpuFloats())
        let out = make(x.shape)
        Self.map(x.count, try out.cpuFloats()) {
            let t = tanh(xp[$0] / cap)
            return gp[$0] * (1 - t * t)
        }
        return out
    }

    // MARK: Helpers

    /// d/dx of 0.5·x·(1 + tanh(c·(x + 0.044715·x³))), c = √(2/π).
    static func geluTanhDerivative(_ x: Float) -> Float {
        let c = (2 / Float.pi).squareRoot()
        let t = tanh(c * (x + 0.044715 * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
    }

    /// d/dx of x·Φ(x) = Φ(x) + x·φ(x).
    static func geluErfDerivative(_ x: Float) -> Float {
        0.5 * erfc(-x * 0.707_106_77) + x * exp(-0.5 * x * x) * 0.398_942_28
    }

    /// d/dx of x·σ(x) = σ(x)·(1 + x·(1 − σ(x))).
    static func siluDerivative(_ x: Float) -> Float {
        let s = 1 / (1 + exp(-x))
        return s * (1 + x * (1 - s))
    }

    /// y = f(gate) · up: d gate = dy · up · f′(gate), d up = dy · f(gate).
    private func gatedBackward(_ op: String, _ gate: Tensor, _ up: Tensor, _ gradient: Tensor,
                               value: @escaping (Float) -> Float, derivative: @escaping (Float) -> Float)
        throws -> (dGate: Tensor, dUp: Tensor) {
        guard gate.count == up.count, gradient.count == gate.count else {
            throw LanternError.shapeMismatch(op: op, detail: "gate \(gate.shape), up \(up.shape), gradient \(gradient.shape)")
        }
        let (g, u, dy) = (try gate.cpuFloats(), try up.cpuFloats(), try gradient.cpuFloats())
        let dGate = make(gate.shape), dUp = make(up.shape)
        Self.map(gate.count, try dGate.cpuFloats()) { dy[$0] * u[$0] * derivative(g[$0]) }
        Self.map(gate.count, try dUp.cpuFloats()) { dy[$0] * value(g[$0]) }
        return (dGate, dUp)
    }
}
