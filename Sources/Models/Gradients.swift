import LanternCore

/// The scalar whose gradient a backward pass computes, as a function of the logits [n, vocab]
/// (after the final softcap, as the forward pass returns them).
public enum GradientMetric: Sendable {
    /// logits[position, target] − logits[position, baseline]; position nil is the last one.
    case logitDifference(target: Int32, baseline: Int32, position: Int? = nil)
    /// Σ logits ∘ g for a gradient g on the logits, [n, vocab] row-major: any metric's gradient
    /// with respect to the logits (a loss's, a probability's), computed by the caller.
    case logitGradient([Float])

    /// The metric's value on `logits` [n, vocab] and its gradient with respect to them.
    func evaluate(logits: [Float], rows n: Int, vocab: Int) throws -> (value: Float, gradient: [Float]) {
        switch self {
        case let .logitDifference(target, baseline, position):
            for (what, id) in [("target", target), ("baseline", baseline)] where id < 0 || Int(id) >= vocab {
                throw LanternError.invalidArgument("\(what) token id \(id) is out of range: the vocabulary has \(vocab) tokens (0..<\(vocab))")
            }
            let row = position ?? n - 1
            guard (0..<n).contains(row) else {
                throw LanternError.invalidArgument("metric position \(row) is out of range: the prompt has \(n) tokens (0..<\(n))")
            }
            var gradient = [Float](repeating: 0, count: n * vocab)
            gradient[row * vocab + Int(target)] += 1
            gradient[row * vocab + Int(baseline)] -= 1
            return (logits[row * vocab + Int(target)] - logits[row * vocab + Int(baseline)], gradient)
        case let .logitGradient(gradient):
            guard gradient.count == n * vocab else {
                throw LanternError.invalidArgument("a logit gradient needs \(n) × \(vocab) = \(n * vocab) values (tokens × vocabulary), got \(gradient.count)")
            }
            var value: Double = 0
            for i in gradient.indices where gradient[i] != 0 { value += Double(gradient[i]) * Double(logits[i]) }
            return (Float(value), gradient)
        }
    }
}

/// One forward pass kept for backward passes: every hook point's activation (after any
/// intervention, i.e. what the next op consumed) except those without gradients (attention maps,
/// norm scales), and the logits.
/// One record serves any number of backward passes (one per metric or per target).
public final class ForwardRecord: @unchecked Sendable {
    public let tokens: [Int32]
    /// [n, vocab], after the final softcap.
    public let logits: Tensor
    /// Before the final softcap (the same tensor where the model has none).
    let rawLogits: Tensor
    let activations: [String: Tensor]
    /// The activations without gradients the record was asked to keep (attention scores and patterns,
    /// norm scales: `HookNames.hasNoGradient`), in forward order.
    public let patterns: [(name: String, tensor: Tensor)]
    /// How many stacked copies of the prompt a backward pass on this record carries (1, or
    /// `Transformer.replicated`'s count: one independent target per copy).
    public let copies: Int

    init(tokens: [Int32], logits: Tensor, rawLogits: Tensor, activations: [String: Tensor],
         patterns: [(name: String, tensor: Tensor)] = [], copies: Int = 1) {
        self.tokens = tokens
        self.logits = logits
        self.rawLogits = rawLogits
        self.activations = activations
        self.patterns = patterns
        self.copies = copies
    }

    /// The activation at hook point `name` (nil for attention maps and norm scales: see `patterns`).
    public func activation(_ name: String) -> Tensor? { activations[name] }
}

/// A hook point's activation and the gradient of the metric with respect to it (same shape).
public struct HookGradient: @unchecked Sendable {
    public let name: String
    public let activation: Tensor
    public let gradient: Tensor
}

/// What `Transformer.gradients` returns.
public struct GradientResult: @unchecked Sendable {
    /// The metric's value on this forward pass.
    public let metric: Float
    /// [n, vocab], after the final softcap.
    public let logits: Tensor
    /// The requested hook points, in forward order.
    public let points: [HookGradient]
    /// The requested hook points without gradients (attention scores and patterns [heads, n, n], norm
    /// scales [n, 1]), in forward order: activations only.
    public let patterns: [(name: String, tensor: Tensor)]

    public func gradient(_ name: String) -> Tensor? { points.first { $0.name == name }?.gradient }
    public func activation(_ name: String) -> Tensor? { points.first { $0.name == name }?.activation }
}

/// Per-layer linear paths that replace the MLPs in a backward pass (circuit tracing's
/// replacement model): the gradient at a block's `hook_mlp_out` reaches the MLP's input
/// (`ln2.hook_normalized`, or the residual in a family without ln2) only through that layer's transcoder skip x ↦ x · W_skip, and not at all where a layer has none.
/// The real MLP (and its output norm: Gemma, OLMo 2) gets no gradient: its output is a constant.
public struct MLPSkipPaths: @unchecked Sendable, Equatable {
    /// layer → W_skipᵀ [d_out, d_in], the weight layout `Backend.matmul(x, w)` applies as x · wᵀ.
    public let weights: [Int: Tensor]

    public init(weights: [Int: Tensor]) { self.weights = weights }

    /// No skips: gradients stop at every MLP output.
    public static let none = MLPSkipPaths(weights: [:])

    public static func == (a: MLPSkipPaths, b: MLPSkipPaths) -> Bool {
        a.weights.count == b.weights.count && a.weights.allSatisfy { l, w in b.weights[l] === w }
    }
}

/// Which nonlinear parts the backward pass holds fixed at the forward pass's values. Exact
/// gradients hold nothing; circuit tracing (attribution graphs) freezes both, which makes the
/// model linear in its residual stream given the MLPs, and replaces the MLPs by `mlpSkips`.
public struct BackwardOptions: Sendable, Equatable {
    /// Attention patterns fixed: gradients flow through the values only (none reach q and k).
    public var freezeAttentionPatterns: Bool
    /// Every RMSNorm's 1/rms fixed (final, QK and the branches' output norms included): each norm
    /// becomes the linear map x ↦ x ∘ g / rms(x₀).
    public var freezeNormScales: Bool

    /// When set, MLPs pass gradients only through these linear skips (nil: through the real MLPs).
    public var mlpSkips: MLPSkipPaths?

    public init(freezeAttentionPatterns: Bool = false, freezeNormScales: Bool = false, mlpSkips: MLPSkipPaths? = nil) {
        self.freezeAttentionPatterns = freezeAttentionPatterns
        self.freezeNormScales = freezeNormScales
        self.mlpSkips = mlpSkips
    }

    public static let exact = BackwardOptions()
    public static let frozen = BackwardOptions(freezeAttentionPatterns: true, freezeNormScales: true)
}
