import Foundation
import LanternCore
import Models

/// Something with one activation per unit per token that a corpus scan ranks and dashboards show:
/// an SAE's features, or the neurons of one MLP (the columns of `blocks.L.mlp.hook_post`).
/// `FeatureScan` keeps the statistics; a unit source says what to capture and how to read it.
public protocol ActivationUnits: AnyObject {
    /// How many units (d_sae, d_mlp).
    var width: Int { get }
    /// What one unit is called in messages and pages ("feature", "neuron").
    var unitName: String { get }
    /// The hooks the forward pass must capture for `activations`.
    var hookNames: [String] { get }
    /// This context's unit activations [tokens, width], row-major on the host, from the captured
    /// hooks. `counted[p]` says which positions the scan counts (BOS is left out), for sources
    /// that keep statistics of their own.
    func activations(from hooks: Hooks, counted: [Bool], model: Transformer) throws -> [Float]
    /// What unit u adds to the residual stream per unit of activation (its logit effects read it
    /// through the unembedding).
    func residualDirection(_ u: Int, model: Transformer) throws -> [Float]
    /// How `residualDirection` is made, for legends.
    var directionFormula: String { get }
}

extension ActivationUnits {
    /// Refuses a unit outside 0..<width with one line.
    public func checkUnit(_ u: Int) throws {
        guard u >= 0, u < width else {
            throw LanternError.invalidArgument("\(unitName) \(u) is out of range: there are \(width) \(unitName)s (0..<\(width))")
        }
    }
}

/// The layer a forward pass must reach to produce every hook in `names` (nil: one of them needs the
/// whole pass, such as ln_final).
func deepestLayer(of names: [String]) -> Int? {
    var deepest = 0
    for name in names {
        if name == HookNames.embed { continue }
        let parts = name.split(separator: ".")
        guard parts.count > 1, parts[0] == "blocks", let l = Int(parts[1]) else { return nil }
        deepest = max(deepest, l)
    }
    return deepest
}

/// An SAE's features as scan units: the SAE encodes its own hook.
extension SAE: ActivationUnits {
    public var width: Int { dSAE }
    public var unitName: String { "feature" }
    public var hookNames: [String] { [hookName] }

    public func activations(from hooks: Hooks, counted: [Bool], model: Transformer) throws -> [Float] {
        guard let x = hooks.activation(hookName) else { throw LanternError.backend("the forward pass did not produce \(hookName)") }
        return try activeLatents(try encode(x)).dense()
    }

    /// W_dec[f]; only a residual-stream SAE writes where the unembedding reads.
    public func residualDirection(_ f: Int, model: Transformer) throws -> [Float] {
        guard model.config.hiddenSize == dIn else {
            throw LanternError.invalidArgument("logit effects need a residual-stream SAE: d_in \(dIn) ≠ the model's hidden size \(model.config.hiddenSize)")
        }
        return try direction(f)
    }

    public var directionFormula: String { "W_dec[f]" }
}

/// The neurons of layer l's MLP: column n of `blocks.l.mlp.hook_post` (act(gate) · up), which the
/// MLP writes through W_down[:, n].
///
/// In Gemma the MLP output m = post · W_downᵀ then passes through the post-feedforward RMSNorm,
/// m · (1 + w) / rms(m), before it joins the residual stream, so what one neuron adds depends on
/// every other neuron through rms(m). The dashboards freeze that scale at its mean over the scanned
/// tokens, s̄ = mean over tokens of 1/√(mean(m²) + ε) (BOS left out, as everywhere in the scan),
/// and read neuron n's direction as s̄ · (1 + w) ⊙ W_down[:, n]. The mean of 1/rms, not 1/(mean
/// rms), because it is the factor itself that multiplies the neuron's contribution at each token.
/// Llama has no post-norm: its direction is W_down[:, n].
public final class MLPNeurons: ActivationUnits {
    public let layer: Int
    public let hookName: String
    public let width: Int
    public var unitName: String { "neuron" }
    public var hookNames: [String] { [hookName] }
    /// Σ 1/rms(m) and the tokens it sums over (only with a post-norm).
    public private(set) var inverseRMSSum = 0.0
    public private(set) var inverseRMSTokens = 0
    private let gain: [Float]?
    private let eps: Float

    public init(layer: Int, model: Transformer) throws {
        guard layer >= 0, layer < model.config.layerCount else {
            throw LanternError.invalidArgument("--layer \(layer) is out of range: the model has \(model.config.layerCount) layers (0..<\(model.config.layerCount))")
        }
        self.layer = layer
        hookName = "blocks.\(layer).mlp.hook_post"
        width = model.config.intermediateSize
        gain = try model.postFeedforwardGain(layer: layer)
        eps = model.config.rmsEps
    }

    /// The frozen post-norm scale s̄ (nil without a post-norm, or before any token was scanned).
    public var frozenScale: Double? {
        gain == nil || inverseRMSTokens == 0 ? nil : inverseRMSSum / Double(inverseRMSTokens)
    }

    public func activations(from hooks: Hooks, counted: [Bool], model: Transformer) throws -> [Float] {
        guard let post = hooks.activation(hookName) else { throw LanternError.backend("the forward pass did not produce \(hookName)") }
        if gain != nil {
            let m = try model.backend.read(try model.mlpDown(post, layer: layer))
            addInverseRMS(of: m, counted: counted, width: model.config.hiddenSize)
        }
        return try model.backend.read(post)
    }

    func addInverseRMS(of m: [Float], counted: [Bool], width d: Int) {
        for p in counted.indices where counted[p] {
            var squares = 0.0
            for i in (p * d)..<((p + 1) * d) { squares += Double(m[i]) * Double(m[i]) }
            inverseRMSSum += 1 / (squares / Double(d) + Double(eps)).squareRoot()
            inverseRMSTokens += 1
        }
    }

    public func residualDirection(_ n: Int, model: Transformer) throws -> [Float] {
        try checkUnit(n)
        var oneHot = [Float](repeating: 0, count: width)
        oneHot[n] = 1
        let column = try model.backend.read(try model.mlpDown(try model.backend.tensor(oneHot, shape: [1, width]), layer: layer))
        guard let gain else { return column }
        guard let scale = frozenScale else {
            throw LanternError.invalidArgument("neuron \(n)'s direction needs the post-norm scale over scanned tokens, and none were scanned")
        }
        return zip(column, gain).map { Float(scale * Double($0 * $1)) }
    }

    public var directionFormula: String {
        guard gain != nil else { return "W_down[:, n]" }
        let scale = frozenScale.map { String(format: "%.4g", $0) } ?? "?"
        return "s̄ · (1 + w_post) ⊙ W_down[:, n], s̄ = \(scale): the mean over the \(inverseRMSTokens) scanned tokens of 1/rms of the MLP output before blocks.\(layer)'s post-feedforward norm"
    }
}
