import Foundation
import LanternCore
import Models

/// Some of a unit's top examples that share one SAE feature.
public struct FeatureGroup: Sendable, Equatable {
    /// The SAE feature (nil: no sparse feature was active at those examples' maxima).
    public let feature: Int?
    /// Indices into the unit's examples, strongest example first.
    public let examples: [Int]
    /// Fraction of the unit's top examples in this group.
    public let share: Double
}

/// How many unrelated things one unit (an MLP neuron) responds to, measured with an SAE: each of
/// the unit's top examples (its strongest token in each of its top contexts) is assigned to the
/// strongest SAE feature active at that token, leaving out dense features (they fire on most tokens
/// and say nothing about one context). The score is the effective number of features among the
/// top examples, exp(H) with H = −Σ share · ln share over the groups: 1 when one feature explains
/// every top context, k when each of k contexts has a different one. Examples with no sparse
/// feature active form one group of their own (counted once, so they never inflate the score).
public struct Polysemanticity: Sendable, Equatable {
    public let unit: Int
    /// Largest group first (ties: the group whose strongest example ranks higher).
    public let groups: [FeatureGroup]
    /// Top examples grouped.
    public let examples: Int
    public let effectiveFeatures: Double

    /// SAE features among the groups (the group of examples without one left out).
    public var distinctFeatures: Int { groups.filter { $0.feature != nil }.count }

    /// Groups the examples of `unit` (from a scan run with a companion SAE); `isDense(f)` says
    /// which SAE features to leave out.
    public init(unit: Int, examples: [FeatureExample], isDense: (Int) -> Bool) {
        self.unit = unit
        self.examples = examples.count
        var members: [Int?: [Int]] = [:], order: [Int?] = []
        for (i, e) in examples.enumerated() {
            let key = e.companions.first { !isDense($0.feature) }?.feature
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(i)
        }
        let total = Double(max(examples.count, 1))
        groups = order.map { FeatureGroup(feature: $0, examples: members[$0]!, share: Double(members[$0]!.count) / total) }
            .sorted { $0.examples.count != $1.examples.count ? $0.examples.count > $1.examples.count : $0.examples[0] < $1.examples[0] }
        let entropy = groups.reduce(0.0) { $0 - $1.share * log($1.share) }
        effectiveFeatures = examples.isEmpty ? 0 : exp(entropy)
    }

    /// Every unit of `scan` that fired, scored against the companion SAE's scan over the same
    /// tokens (a feature is dense when it fired on more than `maxDensity` of them); most
    /// polysemantic first (ties: more examples, then lower unit).
    public static func ranked(scan: FeatureScan, companion: FeatureScan, maxDensity: Double, count: Int) -> [Polysemanticity] {
        let dense = (0..<companion.width).map { companion.summary($0).density > maxDensity }
        let all = (0..<scan.width).filter { scan.summary($0).firing > 0 }
            .map { Polysemanticity(unit: $0, examples: scan.examples($0), isDense: { dense[$0] }) }
        return Array(all.sorted {
            if $0.effectiveFeatures != $1.effectiveFeatures { return $0.effectiveFeatures > $1.effectiveFeatures }
            return $0.examples != $1.examples ? $0.examples > $1.examples : $0.unit < $1.unit
        }.prefix(count))
    }
}

/// What a group's SAE feature is, from its own scan over the same tokens: how often it fires, the
/// tokens it fires on most, and the tokens it promotes.
public struct GroupFeatureNote: Sendable {
    public let feature: Int
    public let density: Double
    /// The maximum tokens of its top examples, distinct, strongest first (at most 5).
    public let topTokens: [Int32]
    public let promoted: [Int32]

    public init(feature f: Int, scan: FeatureScan, sae: SAE, model: Transformer) throws {
        feature = f
        density = scan.summary(f).density
        var seen: [Int32] = []
        for e in scan.examples(f) where !seen.contains(e.tokens[e.maxIndex]) { seen.append(e.tokens[e.maxIndex]) }
        topTokens = Array(seen.prefix(5))
        promoted = model.config.hiddenSize == sae.dIn ? try LogitEffects.of(feature: f, sae: sae, model: model, count: 5).positive.map(\.token) : []
    }
}
