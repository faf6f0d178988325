import Foundation
import LanternCore
import Models

/// Some of a unit's top examples that share one SAE feature.
public struct FeatureGroup: Sendable, Equatable {
    /// The SAE feature (nil: the examples that share no sparse feature with another top example).
    public let feature: Int?
    /// Indices into the unit's examples, strongest example first.
    public let examples: [Int]
    /// Fraction of the unit's top examples in this group.
    public let share: Double
}

/// How many unrelated things one unit (an MLP neuron) responds to, measured with an SAE.
///
/// Each of the unit's top-k examples (its strongest token in each of its top contexts) is read by
/// its `strongest` (3) most active SAE features, dense features left out (they fire on most tokens
/// and say nothing about one context). Only the strongest few take part because a token has tens
/// of active features (TopK 32), and with all of them nearly any two contexts share a weak one by
/// chance, which made every neuron look equally polysemantic. A greedy set cover groups the examples: take the feature active in
/// the most not-yet-grouped examples (ties: the larger summed activation over them, then the lower
/// id), make those examples its group, repeat while some feature is shared by at least two
/// ungrouped examples. What is left shares no feature with another top example (one group, nil).
///
/// The score is the effective number of features the top contexts split into,
/// exp(−Σ pᵢ ln pᵢ) over the shared-feature groups with pᵢ = |groupᵢ| / k: 1 when one feature runs
/// through every top context; m for m equal groups covering them all; the unshared remainder adds
/// nothing, so a neuron whose top contexts have nothing in common scores 1 too (its coverage, the
/// fraction in shared groups, tells the two apart). Grouping by each example's single strongest
/// feature was tried first and saturates: with a 1536-feature SAE nearly every top context has a
/// different strongest feature, whatever the neuron. Nor does the effective number say whether the
/// groups' features are unrelated: `unrelatedness` (set by `FeatureReadings.measure`) reads that
/// off the features' decoder directions and promoted tokens, and the ranking uses it.
public struct Polysemanticity: Sendable, Equatable {
    public let unit: Int
    /// Shared-feature groups, largest first (the greedy order), then the unshared remainder if any.
    public let groups: [FeatureGroup]
    /// Top examples grouped (k).
    public let examples: Int
    public let effectiveFeatures: Double
    /// How unrelated the shared groups' features are (nil until measured against the SAE).
    public var unrelatedness: Unrelatedness?

    /// SAE features among the groups.
    public var distinctFeatures: Int { groups.filter { $0.feature != nil }.count }
    /// Fraction of the top examples in shared-feature groups.
    public var coverage: Double { groups.filter { $0.feature != nil }.reduce(0) { $0 + $1.share } }

    /// Groups the examples of `unit` (from a scan run with a companion SAE); `isDense(f)` says
    /// which SAE features to leave out.
    public init(unit: Int, examples: [FeatureExample], strongest: Int = 3, isDense: (Int) -> Bool) {
        self.unit = unit
        self.examples = examples.count
        let total = Double(max(examples.count, 1))
        // Per feature: the examples it is active in, with its activation there.
        var active: [Int: [(example: Int, value: Float)]] = [:]
        for (i, e) in examples.enumerated() {
            for c in e.companions.filter({ !isDense($0.feature) }).prefix(strongest) { active[c.feature, default: []].append((i, c.activation)) }
        }
        var ungrouped = Set(examples.indices), groups: [FeatureGroup] = []
        while true {
            var best: (feature: Int, members: [Int], mass: Double)?
            for (f, list) in active {
                let members = list.filter { ungrouped.contains($0.example) }
                guard members.count >= 2 else { continue }
                let mass = members.reduce(0.0) { $0 + Double($1.value) }
                if let b = best, (members.count, mass, -f) <= (b.members.count, b.mass, -b.feature) { continue }
                best = (f, members.map(\.example).sorted(), mass)
            }
            guard let b = best else { break }
            groups.append(FeatureGroup(feature: b.feature, examples: b.members, share: Double(b.members.count) / total))
            ungrouped.subtract(b.members)
        }
        let entropy = groups.reduce(0.0) { $0 - $1.share * log($1.share) }
        if !ungrouped.isEmpty {
            groups.append(FeatureGroup(feature: nil, examples: ungrouped.sorted(), share: Double(ungrouped.count) / total))
        }
        self.groups = groups
        effectiveFeatures = exp(entropy)
    }

    /// Every unit of `scan` that fired, scored against the companion SAE's scan over the same
    /// tokens (a feature is dense when it fired on more than `maxDensity` of them), measured by
    /// `readings` (the companion's SAE); most polysemantic first: the most unrelated features (ties:
    /// higher coverage, then lower unit). Only units whose effective number could still place are
    /// measured: the unrelated number never exceeds the effective number, so once the candidates
    /// (taken by effective number, largest first) fall below the `count`-th best score, none after
    /// them can enter.
    public static func ranked(scan: FeatureScan, companion: FeatureScan, maxDensity: Double, count: Int,
                              readings: FeatureReadings) throws -> [Polysemanticity] {
        let dense = (0..<companion.width).map { companion.summary($0).density > maxDensity }
        let all = (0..<scan.width).filter { scan.summary($0).firing > 0 }
            .map { Polysemanticity(unit: $0, examples: scan.examples($0), isDense: { dense[$0] }) }
            .sorted { $0.effectiveFeatures != $1.effectiveFeatures ? $0.effectiveFeatures > $1.effectiveFeatures : $0.unit < $1.unit }
        func before(_ a: Polysemanticity, _ b: Polysemanticity) -> Bool {
            let (x, y) = (a.unrelatedness!.unrelatedFeatures, b.unrelatedness!.unrelatedFeatures)
            if x != y { return x > y }
            return a.coverage != b.coverage ? a.coverage > b.coverage : a.unit < b.unit
        }
        var best: [Polysemanticity] = []
        for p in all {
            // A rounding margin: exp of a sum need not round the same way as exp of a smaller one.
            if best.count >= count, let last = best.last, p.effectiveFeatures * (1 + 1e-12) < last.unrelatedness!.unrelatedFeatures { break }
            best.append(try readings.measure(p))
            best = Array(best.sorted(by: before).prefix(count))
        }
        return best
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
