import Foundation
import LanternCore
import Models

/// How unrelated the SAE features are that a unit's top contexts split into (the shared groups of a
/// `Polysemanticity`), read off the features themselves rather than off the contexts.
///
/// The effective number of features counts every group as a different thing, yet an SAE splits one
/// broad concept into many features (one per token or spelling), and a neuron firing on all of them
/// is one unit, not seven. Two readings of each pair of the groups' features say how related they are:
/// - the cosine of their decoder directions, |cos(W_dec[i], W_dec[j])| (a feature and its
///   opposite write along one axis: related, not unrelated);
/// - the overlap of what they promote, the Jaccard index |Pᵢ ∩ Pⱼ| / |Pᵢ ∪ Pⱼ| of their
///   top-`promotedCount` promoted tokens (`LogitEffects.of`, through the final norm's gain).
///
/// Both are reported as means over the pairs (nil with fewer than two features). The score is the
/// effective number of features with those similarities taken into account, the order-1
/// similarity-sensitive diversity of Leinster and Cobbold (Ecology 93, 2012):
///
///     unrelated features = exp(−Σᵢ pᵢ ln Σⱼ Zᵢⱼ pⱼ),  Zᵢᵢ = 1,  Zᵢⱼ = max(|cosᵢⱼ|, Jᵢⱼ),
///
/// with pᵢ the groups' shares of the top contexts (as in `effectiveFeatures`). Related by either
/// reading is related (the maximum): two features that write the same direction, or that push the
/// same next tokens, are one thing for this purpose. The choice over a product such as
/// effective × (1 − mean |cos|) is deliberate: it weighs each pair by the groups' sizes (two related
/// features with one context each barely change a neuron whose other groups are large), it cannot
/// go below 1 or above the effective number, and its ends are exact — when every Zᵢⱼ is 0 it is the
/// effective number; when every pair is identical it is the score of one group holding all of
/// them. A neuron is ranked by it because it only drops what the features themselves show to be one
/// thing. Decoder directions of unrelated features in a few hundred dimensions are not exactly
/// orthogonal (|cos| ≈ 0.03 by chance in 640), so even fully unrelated groups score a little below
/// the effective number. An SAE that does not read the residual stream has no promoted tokens:
/// there Zᵢⱼ = |cosᵢⱼ| and the overlap is nil.
public struct Unrelatedness: Sendable, Equatable {
    /// The shared groups' features, in group order.
    public let features: [Int]
    /// Mean |cos| of the features' decoder directions over their pairs.
    public let meanAbsCosine: Double?
    /// Mean Jaccard overlap of the features' top promoted tokens over their pairs.
    public let meanPromotedOverlap: Double?
    /// exp(−Σᵢ pᵢ ln Σⱼ Zᵢⱼ pⱼ): at most the effective number of features, at least 1.
    public let unrelatedFeatures: Double

    /// The measure from each group's share of the top contexts, its feature's decoder direction and
    /// (when there are any) its top promoted tokens, all in group order.
    public init(features: [Int], shares: [Double], directions: [[Float]], promoted: [[Int32]]?) throws {
        guard shares.count == features.count, directions.count == features.count, promoted.map({ $0.count == features.count }) ?? true else {
            throw LanternError.invalidArgument("unrelatedness: \(features.count) features need as many shares, directions and promoted-token lists")
        }
        let n = features.count
        var z = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        var cosines = 0.0, overlaps = 0.0
        for i in 0..<n {
            z[i][i] = 1
            for j in (i + 1)..<n {
                let c = abs(Self.cosine(directions[i], directions[j]))
                let overlap = promoted.map { Self.jaccard($0[i], $0[j]) } ?? 0
                cosines += c
                overlaps += overlap
                (z[i][j], z[j][i]) = (max(c, overlap), max(c, overlap))
            }
        }
        let pairs = Double(n * (n - 1) / 2)
        self.features = features
        meanAbsCosine = n > 1 ? cosines / pairs : nil
        meanPromotedOverlap = n > 1 && promoted != nil ? overlaps / pairs : nil
        let sum = (0..<n).reduce(0.0) { total, i in
            total - shares[i] * log((0..<n).reduce(0.0) { $0 + z[i][$1] * shares[$1] })
        }
        unrelatedFeatures = exp(sum)
    }

    /// cos(a, b) in double precision (0 when either is zero).
    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            aa += Double(x) * Double(x)
            bb += Double(y) * Double(y)
        }
        return aa > 0 && bb > 0 ? dot / (aa.squareRoot() * bb.squareRoot()) : 0
    }

    /// |A ∩ B| / |A ∪ B| of two token lists taken as sets (0 when both are empty).
    public static func jaccard(_ a: [Int32], _ b: [Int32]) -> Double {
        let (x, y) = (Set(a), Set(b))
        let union = x.union(y).count
        return union == 0 ? 0 : Double(x.intersection(y).count) / Double(union)
    }
}

/// Each SAE feature's decoder direction and top promoted tokens, read once per feature (a ranking
/// reads the same features for many neurons).
public final class FeatureReadings {
    public let sae: SAE
    public let model: Transformer
    public let promotedCount: Int
    private var cache: [Int: (direction: [Float], promoted: [Int32]?)] = [:]

    public init(sae: SAE, model: Transformer, promotedCount: Int = 10) {
        self.sae = sae
        self.model = model
        self.promotedCount = promotedCount
    }

    /// W_dec[f], and its `promotedCount` most promoted tokens (nil when the SAE does not read the
    /// residual stream, so that its directions have no logit effects).
    public func reading(_ f: Int) throws -> (direction: [Float], promoted: [Int32]?) {
        if let known = cache[f] { return known }
        let direction = try sae.direction(f)
        let promoted = model.config.hiddenSize == sae.dIn
            ? try LogitEffects.of(direction: direction, model: model, count: promotedCount).positive.map(\.token) : nil
        cache[f] = (direction, promoted)
        return (direction, promoted)
    }

    /// `p` with how unrelated its shared groups' features are.
    public func measure(_ p: Polysemanticity) throws -> Polysemanticity {
        let shared = p.groups.compactMap { g in g.feature.map { (feature: $0, share: g.share) } }
        let read = try shared.map { try reading($0.feature) }
        let promoted = read.allSatisfy { $0.promoted != nil } ? read.map { $0.promoted! } : nil
        var measured = p
        measured.unrelatedness = try Unrelatedness(features: shared.map(\.feature), shares: shared.map(\.share),
                                                   directions: read.map(\.direction), promoted: promoted)
        return measured
    }
}
