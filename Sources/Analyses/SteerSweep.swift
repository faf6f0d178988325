import Foundation
import Lantern
import Training

/// A steering claim with its control: one SAE feature added at a range of strengths over several
/// prompts, each beside random directions of the same norm added the same way. Per strength it
/// reports what steering is for — the probability mass on the feature's promoted tokens (mean over
/// each prompt and its unsteered continuation, teacher-forced) — and what it costs: the fluency of
/// the steered text, its mean log-likelihood per token under the unsteered model. A feature that
/// only moves the promoted mass as much as a random push of its size is not steering anything.
public struct SteerSweepRequest: JobRequest {
    public static let name = "steer sweep"
    public static let summary = "Steer with one SAE feature at several strengths over several prompts, beside random directions of the same norm: the promoted tokens' probability and the steered text's log-likelihood under the unsteered model, per strength."
    public static let sae = Field("sae", .string(choices: []), "The SAE (Gemma Scope params.npz or an SAELens folder).")
    public static let feature = Field("feature", .integer(0...Int(Int32.max)), "The feature to steer with.")
    public static let strengths = Field("strengths", .numbers, default: "0,10,20,40,70,120",
                                        "Strengths (add mode: x += strength · W_dec[f] at every position).")
    public static let prompts = Field("prompts", .strings, "The prompts (the text each continuation starts from).")
    public static let maxNewTokens = Field("max_new_tokens", .integer(1...4096), default: "16", "Tokens generated per prompt and strength (greedy).")
    public static let random = Field("random", .integer(0...64), default: "3", "Random directions of the feature's norm per strength (the control).")
    public static let seed = Field("seed", .integer(0...(1 << 53)), default: "0", "Seed of the random directions.")
    public static let promoted = Field("promoted", .integer(1...1_000_000), default: "10", "How many of the feature's most promoted tokens (W_dec·W_U) to measure.")
    public static let fields = JobModel.fields + [sae, feature, strengths, prompts, JobFields.byteTokens, maxNewTokens, random, seed, promoted]

    public var model: JobModel
    public var sae: String
    public var feature: Int
    public var strengths: [Double]
    public var prompts: [String]
    /// Prompts as BOS + their UTF-8 bytes (models without a tokenizer: the test fixtures).
    public var byteTokens = false
    public var maxNewTokens: Int
    public var random: Int
    public var seed: Int
    public var promoted: Int
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), sae: String, feature: Int, strengths: [Double] = [0, 10, 20, 40, 70, 120], prompts: [String],
                maxNewTokens: Int = 16, random: Int = 3, seed: Int = 0, promoted: Int = 10) {
        self.model = model
        self.sae = sae
        self.feature = feature
        self.strengths = strengths
        self.prompts = prompts
        self.maxNewTokens = maxNewTokens
        self.random = random
        self.seed = seed
        self.promoted = promoted
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), sae: try JobFields.required(try json.string(Self.sae), Self.sae),
                  feature: try JobFields.required(try json.int(Self.feature), Self.feature),
                  strengths: try json.numbers(Self.strengths) ?? [0, 10, 20, 40, 70, 120],
                  prompts: try JobFields.required(try json.strings(Self.prompts), Self.prompts),
                  maxNewTokens: try json.int(Self.maxNewTokens) ?? 16, random: try json.int(Self.random) ?? 3,
                  seed: try json.int(Self.seed) ?? 0, promoted: try json.int(Self.promoted) ?? 10)
        byteTokens = try json.bool(JobFields.byteTokens) ?? false
    }

    public func validate() throws {
        let f = frontEnd
        try f.check(feature, Self.feature)
        try f.check(maxNewTokens, Self.maxNewTokens)
        try f.check(random, Self.random)
        try f.check(seed, Self.seed)
        try f.check(promoted, Self.promoted)
        guard !strengths.isEmpty, strengths.allSatisfy(\.isFinite) else {
            throw AnalysisError.invalid("\(f.name(Self.strengths)) needs one or more finite numbers")
        }
        guard !prompts.isEmpty, !prompts.contains(where: \.isEmpty) else {
            throw AnalysisError.invalid("\(f.name(Self.prompts)) needs one or more non-empty prompts")
        }
    }

    public func run(monitor: AnalysisMonitor) throws -> SteerSweepResult {
        let loaded = try model.load(manyPasses: true, frontEnd)
        let m = loaded.transformer
        let dictionary = try SAE.load(path: sae, backend: loaded.backend, hook: nil)
        guard (0..<dictionary.dSAE).contains(feature) else {
            throw AnalysisError.invalid("\(frontEnd.name(Self.feature)) \(feature) is out of range: the SAE has \(dictionary.dSAE) features (0..<\(dictionary.dSAE))")
        }
        let direction = try dictionary.direction(feature)
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let promotedTokens = try LogitEffects.of(direction: direction, model: m, count: promoted).positive.map(\.token)
        var rng = SeededGenerator(seed: UInt64(seed))
        let controls: [[Float]] = (0..<random).map { _ in
            let v = (0..<direction.count).map { _ in rng.normal() }
            let scale = norm / max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-30)
            return v.map { $0 * scale }
        }
        let bos = m.config.bosToken.map { [$0] } ?? []
        let encoded = try prompts.map { byteTokens ? bos + $0.utf8.map { Int32($0) } : try loaded.encode($0) }
        let baselines = try encoded.map { try m.generate(prompt: $0, maxNewTokens: maxNewTokens, stopAtEOS: false).tokens }
        // The unsteered mass, once per prompt (every strength and direction reads the same text).
        let unsteeredMass = try prompts.indices.map {
            try Steering.promotedMass(m, text: encoded[$0] + baselines[$0], tokens: promotedTokens, hooks: nil)
        }
        let total = strengths.count * prompts.count * (1 + random)
        var done = 0
        func measure(_ steering: Steering, _ p: Int) throws -> (mass: Double, fluency: Double, text: [Int32]) {
            let steered = try m.generate(prompt: encoded[p], maxNewTokens: maxNewTokens, hooks: try steering.hooks(for: m), stopAtEOS: false).tokens
            let mass = try Steering.promotedMass(m, text: encoded[p] + baselines[p], tokens: promotedTokens, hooks: try steering.hooks(for: m))
            done += 1
            try monitor.step(done, of: total, "steer sweep")
            return (mass, try SteeringFluency.meanLogLikelihood(m, prompt: encoded[p], continuation: steered), steered)
        }
        var rows: [SteerSweepResult.Row] = []
        for s in strengths {
            var row = SteerSweepResult.Row(strength: s)
            for p in prompts.indices {
                let byFeature = try measure(Steering(sae: dictionary, features: [feature], strength: Float(s)), p)
                row.promotedMass += byFeature.mass / Double(prompts.count)
                row.promotedMassUnsteered += unsteeredMass[p] / Double(prompts.count)
                row.logLikelihood += byFeature.fluency / Double(prompts.count)
                row.texts.append(loaded.decode(byFeature.text))
                for control in controls {
                    let byRandom = try measure(Steering(sae: nil, direction: control, hookName: dictionary.hookName, strength: Float(s)), p)
                    row.promotedMassRandom! += byRandom.mass / Double(prompts.count * controls.count)
                    row.logLikelihoodRandom! += byRandom.fluency / Double(prompts.count * controls.count)
                }
            }
            if controls.isEmpty { (row.promotedMassRandom, row.logLikelihoodRandom) = (nil, nil) }
            rows.append(row)
        }
        return SteerSweepResult(feature: feature, hook: dictionary.hookName, directionNorm: Double(norm),
                                promotedTokens: promotedTokens.map(Int.init), promotedText: promotedTokens.map { loaded.shown($0) },
                                baselineLogLikelihood: try encoded.indices.map { try SteeringFluency.meanLogLikelihood(m, prompt: encoded[$0], continuation: baselines[$0]) }
                                    .reduce(0, +) / Double(prompts.count),
                                random: random, rows: rows)
    }
}

/// What `steer sweep` measured, per strength (means over the prompts; the random columns over the
/// prompts and the random directions; null without random directions).
public struct SteerSweepResult: Encodable, Sendable {
    public struct Row: Encodable, Sendable {
        public var strength: Double
        public var promotedMass = 0.0
        public var promotedMassRandom: Double? = 0
        public var promotedMassUnsteered = 0.0
        public var logLikelihood = 0.0
        public var logLikelihoodRandom: Double? = 0
        /// The feature-steered continuation of each prompt.
        public var texts: [String] = []

        init(strength: Double) { self.strength = strength }

        enum CodingKeys: String, CodingKey {
            case strength, texts
            case promotedMass = "promoted_mass", promotedMassRandom = "promoted_mass_random", promotedMassUnsteered = "promoted_mass_unsteered"
            case logLikelihood = "log_likelihood", logLikelihoodRandom = "log_likelihood_random"
        }
    }

    public var feature: Int
    public var hook: String
    public var directionNorm: Double
    public var promotedTokens: [Int]
    public var promotedText: [String]
    /// The unsteered continuations' mean log-likelihood per token (the fluency to compare with).
    public var baselineLogLikelihood: Double
    public var random: Int
    public var rows: [Row]

    enum CodingKeys: String, CodingKey {
        case feature, hook, random, rows
        case directionNorm = "direction_norm", promotedTokens = "promoted_tokens", promotedText = "promoted_text"
        case baselineLogLikelihood = "baseline_log_likelihood"
    }
}

extension SteerSweepResult {
    /// The curve as two charts in a row (an `<svg>` element, `steer sweep --svg`): against
    /// strength, the promoted tokens' probability and the steered text's log-likelihood per token,
    /// the feature's beside the random directions' and the unsteered level.
    public var svg: String {
        let prompts = rows.first?.texts.count ?? 0
        let across = prompts == 1 ? "one prompt" : "\(prompts) prompts"
        var mass = SVGPlot(title: "Feature \(feature): promoted tokens' probability (\(across))", xLabel: "strength",
                           yLabel: "P(\(promotedTokens.count) promoted tokens)")
        var fluency = SVGPlot(title: "Fluency of the steered text", xLabel: "strength", yLabel: "log-likelihood per token")
        let featureLabel = "feature \(feature)", control = "random (\(random) of its norm)"
        mass.series = [SVGPlot.Series(label: featureLabel, points: rows.map { ($0.strength, $0.promotedMass) }, color: "#7a5cc0", joined: true)]
        fluency.series = [SVGPlot.Series(label: featureLabel, points: rows.map { ($0.strength, $0.logLikelihood) }, color: "#7a5cc0", joined: true)]
        if random > 0 {
            mass.series.append(.init(label: control, points: rows.compactMap { r in r.promotedMassRandom.map { (r.strength, $0) } }, color: "#c06030", joined: true))
            fluency.series.append(.init(label: control, points: rows.compactMap { r in r.logLikelihoodRandom.map { (r.strength, $0) } }, color: "#c06030", joined: true))
        }
        let ends = [rows.map(\.strength).min() ?? 0, rows.map(\.strength).max() ?? 0]
        mass.series.append(.init(label: "unsteered", points: rows.map { ($0.strength, $0.promotedMassUnsteered) }, color: "#999", dots: false, dashed: true))
        fluency.series.append(.init(label: "unsteered", points: ends.map { ($0, baselineLogLikelihood) }, color: "#999", dots: false, dashed: true))
        // The promoted mass rises with strength and the log-likelihood falls: the corners they leave free.
        (mass.legend, fluency.legend) = (.topLeft, .bottomLeft)
        return SVGPlot.row([mass, fluency])
    }
}
