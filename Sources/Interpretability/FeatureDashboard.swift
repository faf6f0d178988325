import Foundation
import LanternCore
import Models

/// A token and how much a feature's decoder direction raises (or lowers) its logit.
public struct TokenLogit: Sendable, Equatable {
    public let token: Int32
    public let logit: Float
}

/// A feature's direct effect on the logits: W_dec[f] · W_Uᵀ, the decoder direction read through
/// the bare unembedding, with neither the final norm nor Gemma 2's softcap (as Neuronpedia and
/// SAELens show it). It is the path through the residual stream alone: later layers are ignored.
public struct LogitEffects: Sendable, Equatable {
    /// Most raised tokens, largest first; most lowered, most negative first.
    public let positive: [TokenLogit]
    public let negative: [TokenLogit]

    public static func of(feature f: Int, sae: SAE, model: Transformer, count: Int = 10) throws -> LogitEffects {
        guard model.config.hiddenSize == sae.dIn else {
            throw LanternError.invalidArgument("logit effects need a residual-stream SAE: d_in \(sae.dIn) ≠ the model's hidden size \(model.config.hiddenSize)")
        }
        let direction = try model.backend.tensor(try sae.direction(f), shape: [1, sae.dIn])
        let logits = try model.backend.read(try model.unembedDirect(direction))
        return LogitEffects(positive: Ranking.largest(count, of: logits).map { TokenLogit(token: Int32($0), logit: logits[$0]) },
                            negative: Ranking.largest(count, of: logits.map { -$0 }).map { TokenLogit(token: Int32($0), logit: logits[$0]) })
    }
}

/// Everything one feature's dashboard shows.
public struct FeatureDashboard: Sendable {
    public let feature: Int
    public let summary: FeatureSummary
    public let examples: [FeatureExample]
    public let histogram: FeatureHistogram
    public let logits: LogitEffects
    /// ‖W_dec[f]‖: the logit effects scale with it (1 for SAEs trained with unit-norm decoder rows).
    public let decoderNorm: Float

    public init(feature f: Int, scan: FeatureScan, sae: SAE, model: Transformer, logitCount: Int = 10, bins: Int = 20) throws {
        guard f >= 0, f < sae.dSAE else {
            throw LanternError.invalidArgument("feature \(f) is out of range: the SAE has \(sae.dSAE) features (0..<\(sae.dSAE))")
        }
        feature = f
        summary = scan.summary(f)
        examples = scan.examples(f)
        histogram = scan.histogram(f, bins: bins)
        logits = try LogitEffects.of(feature: f, sae: sae, model: model, count: logitCount)
        decoderNorm = try sae.direction(f).reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
}
