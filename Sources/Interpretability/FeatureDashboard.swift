import Foundation
import LanternCore
import Models

/// A token and how much a feature's decoder direction raises (or lowers) its logit.
public struct TokenLogit: Sendable, Equatable {
    public let token: Int32
    public let logit: Float
}

/// A unit's direct effect on the logits: its residual-stream direction read through the final
/// norm's gain and the unembedding, (W_dec[f] ⊙ g) · W_Uᵀ for an SAE feature (g = 1 + w for Gemma),
/// without the norm's 1/rms (one positive number per token: it changes no ranking) or Gemma 2's
/// softcap. This is W_dec · W_U as TransformerLens computes it with `fold_ln` (the gain folded into
/// W_U), which Neuronpedia uses. The gain matters for Gemma: a few residual dimensions are hundreds
/// of times larger than the rest and the final norm scales them down; read through the bare
/// unembedding, every Gemma 3 direction with a component there "promotes" the same junk tokens.
/// It is the path through the residual stream alone: later layers are ignored.
public struct LogitEffects: Sendable, Equatable {
    /// Most raised tokens, largest first; most lowered, most negative first.
    public let positive: [TokenLogit]
    public let negative: [TokenLogit]

    public static func of(feature f: Int, sae: SAE, model: Transformer, count: Int = 10) throws -> LogitEffects {
        try of(direction: try sae.residualDirection(f, model: model), model: model, count: count)
    }

    /// (direction ⊙ final-norm gain) · W_Uᵀ for a residual-stream direction [hidden] (centred first
    /// for a final LayerNorm).
    public static func of(direction: [Float], model: Transformer, count: Int = 10) throws -> LogitEffects {
        let gain = try model.finalNormGain()
        guard gain.count == direction.count else {
            throw LanternError.shapeMismatch(op: "logit effects", detail: "direction of \(direction.count) for a \(gain.count)-wide residual stream")
        }
        // A final LayerNorm removes the mean of whatever it reads: the direction's mean has no effect.
        let mean = model.config.layerNorm ? direction.reduce(0, +) / Float(direction.count) : 0
        let row = try model.backend.tensor(zip(direction, gain).map { ($0 - mean) * $1 }, shape: [1, direction.count])
        let logits = try model.backend.read(try model.unembedDirect(row))
        return LogitEffects(positive: Ranking.largest(count, of: logits).map { TokenLogit(token: Int32($0), logit: logits[$0]) },
                            negative: Ranking.largest(count, of: logits.map { -$0 }).map { TokenLogit(token: Int32($0), logit: logits[$0]) })
    }
}

/// Everything one unit's dashboard shows (an SAE feature's or an MLP neuron's).
public struct FeatureDashboard: Sendable {
    /// The unit (feature or neuron index) and what it is called.
    public let feature: Int
    public let unitName: String
    public let summary: FeatureSummary
    public let examples: [FeatureExample]
    public let histogram: FeatureHistogram
    public let logits: LogitEffects
    /// ‖direction‖ (‖W_dec[f]‖ for a feature): the logit effects scale with it (1 for SAEs trained
    /// with unit-norm decoder rows).
    public let directionNorm: Float
    /// How the direction was made (`ActivationUnits.directionFormula`).
    public let directionFormula: String

    public init(feature f: Int, scan: FeatureScan, sae: SAE, model: Transformer, logitCount: Int = 10, bins: Int = 20) throws {
        try self.init(unit: f, scan: scan, units: sae, model: model, logitCount: logitCount, bins: bins)
    }

    public init(unit u: Int, scan: FeatureScan, units: any ActivationUnits, model: Transformer, logitCount: Int = 10, bins: Int = 20) throws {
        try units.checkUnit(u)
        guard scan.width == units.width else {
            throw LanternError.invalidArgument("the scan has \(scan.width) units but the \(units.unitName)s are \(units.width)")
        }
        feature = u
        unitName = units.unitName
        summary = scan.summary(u)
        examples = scan.examples(u)
        histogram = scan.histogram(u, bins: bins)
        let direction = try units.residualDirection(u, model: model)
        logits = try LogitEffects.of(direction: direction, model: model, count: logitCount)
        directionNorm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        directionFormula = units.directionFormula
    }
}
