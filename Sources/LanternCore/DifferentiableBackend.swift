/// The backward ops of the forward pass: vector–Jacobian products with respect to activations
/// (never weights), for gradients, attribution patching and attribution graphs.
///
/// A separate protocol rather than part of `Backend` on purpose: a backend can run the forward
/// pass without these (the CPU and Vulkan backends have both). Callers ask `backend as?
/// DifferentiableBackend` and say clearly when the answer is no.
///
/// Each op takes the forward op's inputs (or what it saved) and the gradient of a scalar with
/// respect to the forward op's output, and returns the gradient with respect to its inputs.
/// Shapes follow the forward ops in `Backend`.
public protocol DifferentiableBackend: Backend {
    /// dX = dY · W [n, in] for dY [n, out] and a weight W [out, in] in any stored dtype: the
    /// backward of `matmul(x, w)` = x · Wᵀ. Quantised rows are decoded on the fly, never widened
    /// into a full f32 copy of the weight; columns of dY that are zero everywhere are skipped.
    func matmulBackward(_ gradient: Tensor, _ w: Tensor) throws -> Tensor

    /// The backward of `rmsNorm(x, weight:, eps:, form:)` with respect to x. With `frozenScale` the
    /// per-row scale 1/rms(x) is held at its value (a linear map: dx = dy ∘ g / rms(x)), as circuit
    /// tracing's frozen normalisation wants.
    func rmsNormBackward(_ x: Tensor, weight: Tensor, eps: Float, form: RMSNormForm, gradient: Tensor,
                         frozenScale: Bool) throws -> Tensor

    /// The backward of `layerNorm(x, weight:, bias:, eps:)` with respect to x (the bias adds a
    /// constant). With `frozenScale` the per-row 1/√(var + eps) is held at its value; the centring
    /// stays, being linear: dx = (ĝ − mean(ĝ)) / scale with ĝ = dy ∘ w.
    func layerNormBackward(_ x: Tensor, weight: Tensor, eps: Float, gradient: Tensor, frozenScale: Bool) throws -> Tensor

    /// The backward of `rope`: RoPE is a rotation by θ at each position, so its transpose is the
    /// rotation by −θ.
    func ropeBackward(_ gradient: Tensor, heads: Int, headDim: Int, start: Int, params: RopeParams) throws -> Tensor

    /// The backward of `attention` with respect to q [n, H·D], k and v [keyCount, KV·D] (the rows
    /// the forward read; GQA gradients of a KV head sum over its query heads). The pattern is
    /// recomputed from q and k, with the same scale, softcap, causal mask and sliding window.
    func attentionBackward(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, params: AttentionParams,
                           gradient: Tensor) throws -> (dq: Tensor, dk: Tensor, dv: Tensor)

    /// The backward of `gegluTanh(gate:, up:)`: (d gate, d up).
    func gegluTanhBackward(gate: Tensor, up: Tensor, gradient: Tensor) throws -> (dGate: Tensor, dUp: Tensor)

    /// The backward of `swiglu(gate:, up:)`: (d gate, d up).
    func swigluBackward(gate: Tensor, up: Tensor, gradient: Tensor) throws -> (dGate: Tensor, dUp: Tensor)

    /// The backward of `gelu(x, approximation:)`: dy · gelu′(x).
    func geluBackward(_ x: Tensor, approximation: GELUApproximation, gradient: Tensor) throws -> Tensor

    /// The backward of `softcap(x, cap:)` with respect to its input x: dy · (1 − tanh²(x / cap)).
    func softcapBackward(_ x: Tensor, cap: Float, gradient: Tensor) throws -> Tensor
}

extension DifferentiableBackend {
    /// The exact backward of RMSNorm (the scale not frozen).
    public func rmsNormBackward(_ x: Tensor, weight: Tensor, eps: Float, form: RMSNormForm, gradient: Tensor) throws -> Tensor {
        try rmsNormBackward(x, weight: weight, eps: eps, form: form, gradient: gradient, frozenScale: false)
    }
}
