import Foundation
import LanternCore
import Models

/// One of a feature's top-activating examples: a window of a context around the position where
/// the feature fired most strongly in that context, with its activation at every window token.
public struct FeatureExample: Sendable, Equatable {
    /// Which context of the scan (0, 1, …) and the position of the maximum in it.
    public let context: Int
    public let position: Int
    /// The context position of `tokens[0]`.
    public let windowStart: Int
    public let tokens: [Int32]
    /// The feature's activation at each window token (0 at positions the scan leaves out, BOS).
    public let activations: [Float]
    public let maxActivation: Float
    /// The features of a companion SAE active at the maximum (strongest first, at most
    /// `Options.companionLimit`); empty when the scan ran without one. The polysemanticity view
    /// groups a neuron's top examples by them.
    public let companions: [FeatureActivation]
    /// Index of the maximum in `tokens`.
    public var maxIndex: Int { position - windowStart }
}

/// A feature's corpus-wide figures.
public struct FeatureSummary: Sendable, Equatable {
    public let feature: Int
    /// Tokens it fired on (activation > 0), of `tokens` scanned.
    public let firing: Int
    public let tokens: Int
    public let maxActivation: Float
    /// Mean activation over the tokens it fired on.
    public let meanActivation: Double
    /// Fraction of scanned tokens it fired on.
    public var density: Double { Double(firing) / Double(max(tokens, 1)) }
}

/// How `FeatureScan.ranked` orders features.
public enum FeatureRanking: String, Sendable, CaseIterable {
    case density, max, mean
}

/// A histogram of a feature's nonzero activations: `counts.count` equal bins over [lower, upper].
public struct FeatureHistogram: Sendable, Equatable {
    public let lower: Float
    public let upper: Float
    public let counts: [Int]
    /// Values it counts: every nonzero activation, or a uniform sample of them when there were more
    /// than the scan keeps (`sampled`).
    public let values: Int
    public let sampled: Bool
}

/// One pass over a corpus that computes every unit's activations once and keeps, per unit, the
/// top-k contexts (a bounded sorted list), firing count, maximum, sum and a bounded sample of
/// nonzero activations for the histogram. `features top`, `neurons top` and any number of
/// dashboards share it. A unit is an SAE feature or an MLP neuron (`ActivationUnits`); it "fires"
/// where its activation is positive (neurons are signed: their negative side is not ranked).
/// BOS positions are left out (as in `sae eval`): never counted, never an example's maximum.
public final class FeatureScan {
    public struct Options: Sendable {
        public var topExamples = 10
        /// Window tokens kept before and after an example's maximum.
        public var before = 16
        public var after = 4
        /// Nonzero activations kept per feature for its histogram (a uniform reservoir sample beyond).
        public var histogramSample = 10_000
        public var includeBOS = false
        /// Companion-SAE features kept per example (the strongest).
        public var companionLimit = 64
        public init() {}
    }

    /// How many units (d_sae for SAE features, d_mlp for neurons).
    public let width: Int
    public let options: Options
    public let bos: Int32?
    public private(set) var tokens = 0
    public private(set) var contexts = 0
    private var firing: [Int], maxima: [Float], sums: [Double]
    private var top: [[FeatureExample]]
    private var samples: [[Float]]
    private var random: UInt64 = 0x9E37_79B9_7F4A_7C15

    public init(width: Int, bos: Int32?, options: Options = Options()) {
        self.width = width
        self.bos = bos
        self.options = options
        firing = [Int](repeating: 0, count: width)
        maxima = [Float](repeating: 0, count: width)
        sums = [Double](repeating: 0, count: width)
        top = [[FeatureExample]](repeating: [], count: width)
        samples = [[Float]](repeating: [], count: width)
    }

    /// Runs the model on one context (only as far as the hooks need) and adds its units'
    /// activations. With a companion SAE, the same pass also feeds the SAE's own scan, and each of
    /// the units' examples records the SAE features active at its maximum.
    public func add(context tokens: [Int32], model: Transformer, units: any ActivationUnits,
                    companion: (sae: SAE, scan: FeatureScan)? = nil) throws {
        try add(contexts: [tokens], model: model, units: units, companion: companion)
    }

    /// Runs several contexts as rows of one forward pass (`Transformer.forward(batch:)`) and adds
    /// each, in order, as `add(context:)` would: the same activations to summation order (bit for
    /// bit when every context has 8 tokens or more), with every weight product one many-row product.
    /// (One context is one plain pass: `forward(batch:)` runs a lone sequence as `forward` does.)
    public func add(contexts: [[Int32]], model: Transformer, units: any ActivationUnits,
                    companion: (sae: SAE, scan: FeatureScan)? = nil) throws {
        let names = units.hookNames + (companion?.sae.hookNames ?? [])
        let hookSets = contexts.map { _ in Hooks(capture: HookFilter(names)) }
        _ = try model.forward(batch: contexts, hooks: hookSets, logits: .none, stopAfterLayer: deepestLayer(of: names))
        for (tokens, hooks) in zip(contexts, hookSets) {
            let counted = tokens.map(counted)
            var perPosition: [[FeatureActivation]]?
            if let companion {
                let acts = try companion.sae.activations(from: hooks, counted: counted, model: model)
                companion.scan.add(activations: acts, tokens: tokens)
                perPosition = Self.active(acts, width: companion.sae.dSAE, limit: options.companionLimit)
            }
            add(activations: try units.activations(from: hooks, counted: counted, model: model), tokens: tokens, companions: perPosition)
        }
    }

    /// Per row of acts [n, width]: the positive entries, strongest first (ties: lower index), at most `limit`.
    static func active(_ acts: [Float], width: Int, limit: Int) -> [[FeatureActivation]] {
        (0..<(acts.count / width)).map { p in
            let row = acts[(p * width)..<((p + 1) * width)]
            return Ranking.largest(limit, of: row).filter { row[$0] > 0 }.map { FeatureActivation(feature: $0 - p * width, activation: row[$0]) }
        }
    }

    /// Adds one context's unit activations [tokens.count, width] (row-major, on the host), and
    /// optionally per position the companion SAE's active features.
    public func add(activations acts: [Float], tokens context: [Int32], companions: [[FeatureActivation]]? = nil) {
        precondition(acts.count == context.count * width, "activations are not [\(context.count), \(width)]")
        precondition(companions == nil || companions!.count == context.count, "one companion list per position")
        var best: [Int: (value: Float, position: Int)] = [:]
        acts.withUnsafeBufferPointer { a in
            for p in context.indices where counted(context[p]) {
                tokens += 1
                let row = p * width
                for f in 0..<width where a[row + f] > 0 {
                    let v = a[row + f]
                    firing[f] += 1
                    sums[f] += Double(v)
                    maxima[f] = max(maxima[f], v)
                    sample(f, v)
                    if v > (best[f]?.value ?? 0) { best[f] = (v, p) }
                }
            }
        }
        for (f, b) in best { offer(f, b.value, b.position, acts, context, companions?[b.position] ?? []) }
        contexts += 1
    }

    func counted(_ token: Int32) -> Bool { options.includeBOS || token != bos }

    /// Keeps the example when it is among the feature's top k (ties: the earlier context stays).
    private func offer(_ f: Int, _ value: Float, _ position: Int, _ acts: [Float], _ context: [Int32], _ companions: [FeatureActivation]) {
        let k = options.topExamples
        if top[f].count == k, let last = top[f].last, value <= last.maxActivation { return }
        let start = max(0, position - options.before), end = min(context.count, position + options.after + 1)
        let window = (start..<end).map { counted(context[$0]) ? acts[$0 * width + f] : 0 }
        let example = FeatureExample(context: contexts, position: position, windowStart: start, tokens: Array(context[start..<end]),
                                     activations: window, maxActivation: value, companions: companions)
        let at = top[f].firstIndex { $0.maxActivation < value } ?? top[f].count
        top[f].insert(example, at: at)
        if top[f].count > k { top[f].removeLast() }
    }

    /// Reservoir sampling (algorithm R) with a fixed-seed generator, so runs repeat exactly.
    private func sample(_ f: Int, _ v: Float) {
        if samples[f].count < options.histogramSample { samples[f].append(v); return }
        random = random &* 6364136223846793005 &+ 1442695040888963407
        let j = Int((random >> 33) % UInt64(firing[f]))
        if j < options.histogramSample { samples[f][j] = v }
    }

    public func summary(_ f: Int) -> FeatureSummary {
        FeatureSummary(feature: f, firing: firing[f], tokens: tokens, maxActivation: maxima[f],
                       meanActivation: firing[f] > 0 ? sums[f] / Double(firing[f]) : 0)
    }

    /// The feature's top examples, strongest first.
    public func examples(_ f: Int) -> [FeatureExample] { top[f] }

    /// The `count` features that fired, highest first by `key` (ties: lower id first).
    /// The `count` best units by `key`, among those that fired and fire on at most `maxDensity` of
    /// the scanned tokens (dense units hide the rest of a density ranking).
    public func ranked(by key: FeatureRanking, count: Int, maxDensity: Double = 1) -> [FeatureSummary] {
        let all = (0..<width).map(summary).filter { $0.firing > 0 && $0.density <= maxDensity }
        func value(_ s: FeatureSummary) -> Double {
            switch key {
            case .density: return s.density
            case .max: return Double(s.maxActivation)
            case .mean: return s.meanActivation
            }
        }
        return Array(all.sorted { value($0) != value($1) ? value($0) > value($1) : $0.feature < $1.feature }.prefix(count))
    }

    /// The histogram of feature f's nonzero activations in `bins` equal bins from 0 to its maximum.
    public func histogram(_ f: Int, bins: Int = 20) -> FeatureHistogram {
        let values = samples[f]
        let upper = values.max() ?? 0
        var counts = [Int](repeating: 0, count: bins)
        if upper > 0 {
            for v in values { counts[min(bins - 1, Int(Double(v) / Double(upper) * Double(bins)))] += 1 }
        }
        return FeatureHistogram(lower: 0, upper: upper, counts: counts, values: values.count, sampled: firing[f] > values.count)
    }
}
