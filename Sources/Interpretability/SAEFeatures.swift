import Foundation
import LanternCore
import Models

/// A feature and how strongly it fired.
public struct FeatureActivation: Sendable, Equatable {
    public let feature: Int
    public let activation: Float
}

/// The SAE's reading of one token.
public struct TokenFeatures: Sendable {
    public let position: Int
    public let token: Int32
    /// The strongest features, strongest first (only those that fired).
    public let top: [FeatureActivation]
    /// How many features fired.
    public let l0: Int
    /// ‖x − x̂‖ / ‖x‖.
    public let relativeError: Float
}

/// An SAE run over a prompt's activations at its hook.
public struct SAERun {
    public let tokens: [Int32]
    /// The activation x [n, d_in], feature activations [n, d_sae] and reconstruction x̂ [n, d_in], on the host.
    public let input: [Float]
    public let acts: [Float]
    public let reconstruction: [Float]
    public let dIn: Int
    public let dSAE: Int

    public func row(_ values: [Float], _ p: Int, width: Int) -> ArraySlice<Float> { values[(p * width)..<((p + 1) * width)] }

    /// Per-token features, L0 and reconstruction error.
    /// The `top` strongest features at each position, leaving out `excluding` (dense features, say).
    public func features(top: Int, excluding: Set<Int> = []) -> [TokenFeatures] {
        tokens.indices.map { p in
            var a = Array(row(acts, p, width: dSAE))
            let l0 = a.filter { $0 > 0 }.count
            for f in excluding where f >= 0 && f < dSAE { a[f] = 0 }
            let fired = Ranking.largest(top, of: a).filter { a[$0] > 0 }
            let x = row(input, p, width: dIn), xh = row(reconstruction, p, width: dIn)
            return TokenFeatures(position: p, token: tokens[p], top: fired.map { FeatureActivation(feature: $0, activation: a[$0]) },
                                 l0: l0, relativeError: Float(SAEMath.relativeError(x, xh)))
        }
    }

    /// Feature f's activation at every position.
    public func activations(of feature: Int) -> [Float] { tokens.indices.map { acts[$0 * dSAE + feature] } }
}

extension SAE {
    /// Runs the model on `tokens`, encodes the activation at the SAE's hook and decodes it back.
    public func run(on model: Transformer, tokens: [Int32]) throws -> SAERun {
        try check(against: model.config)
        let hooks = Hooks(capture: HookFilter([hookName]))
        try model.forward(tokens, hooks: hooks, logits: .none)
        guard let x = hooks.activation(hookName) else { throw LanternError.backend("the forward pass did not produce \(hookName)") }
        let acts = try encode(x)
        let recon = try decode(acts)
        return SAERun(tokens: tokens, input: try backend.read(x), acts: try activeLatents(acts).dense(),
                      reconstruction: try backend.read(recon), dIn: dIn, dSAE: dSAE)
    }
}

/// Vector arithmetic the metrics share, in Double.
enum SAEMath {
    static func squaredDistance(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        zip(a, b).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
    }
    static func squaredNorm(_ a: ArraySlice<Float>) -> Double { a.reduce(0) { $0 + Double($1) * Double($1) } }
    static func relativeError(_ x: ArraySlice<Float>, _ xh: ArraySlice<Float>) -> Double {
        (squaredDistance(x, xh) / max(squaredNorm(x), 1e-30)).squareRoot()
    }
    static func cosine(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        let dot = zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        return dot / max((squaredNorm(a) * squaredNorm(b)).squareRoot(), 1e-30)
    }
}

/// Running sums for explained variance over many tokens without keeping them:
/// Σ‖x − x̄‖² = Σ‖x‖² − ‖Σx‖²/N, in Double so the subtraction does not cancel.
public struct ReconstructionStats: Sendable {
    public private(set) var count = 0
    public private(set) var squaredError = 0.0
    private var squaredNorm = 0.0
    private var vectorSum: [Double]

    public init(width: Int) { vectorSum = [Double](repeating: 0, count: width) }

    public mutating func add(_ x: ArraySlice<Float>, _ reconstruction: ArraySlice<Float>) {
        count += 1
        squaredError += SAEMath.squaredDistance(x, reconstruction)
        squaredNorm += SAEMath.squaredNorm(x)
        for (i, v) in x.enumerated() { vectorSum[i] += Double(v) }
    }

    /// 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² (SAELens), x̄ the mean of the tokens added.
    public var explainedVariance: Double {
        let total = squaredNorm - vectorSum.reduce(0) { $0 + $1 * $1 } / Double(max(count, 1))
        return 1 - squaredError / max(total, 1e-30)
    }
}
