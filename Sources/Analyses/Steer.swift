import Foundation
import Lantern

/// Baseline and steered continuations of one prompt, the same sampler seed for both: steering by
/// SAE features (Neuronpedia's additive steering, or clamping) and/or a raw direction.
public struct SteerRequest: AnalysisRequest {
    public static let name = "steer"
    public static let summary = "Baseline and steered continuations side by side (add: x += Σ strength·W_dec[f] at every position of every step; clamp: each feature's activation set to its strength, keeping the SAE's error term), with the probability mass steering moves onto the features' promoted tokens."
    public static let sae = FeaturesRequest.sae
    public static let featureID = Field("feature", .integer(0...Int(Int32.max)), "The feature.")
    public static let featureStrength = Field("strength", .number(-.infinity...(.infinity)), limit: .steeringStrength, "Its steering strength (add) or clamped activation (clamp).")
    public static let features = Field("features", flag: "--feature", .objects([featureID, featureStrength]), limit: .steeringFeatures,
                                       "The features, each {\"feature\": id, \"strength\": number}.")
    public static let direction = Field("direction", .numbers, "A raw direction (d_in numbers) added at `hook`, scaled by `strength` (add mode).")
    public static let hook = Field("hook", .string(choices: []), default: "the SAE's", "The hook to steer.")
    public static let strength = Field("strength", .number(-.infinity...(.infinity)), limit: .steeringStrength, default: "1", "The raw direction's scale.")
    public static let mode = Field("mode", .string(choices: SteeringMode.allCases.map(\.rawValue)), default: "add", "add or clamp.")
    public static let maxNewTokens = Field("max_new_tokens", .integer(0...(1 << 20)), limit: .newTokens, default: "32", "How many tokens to generate.")
    public static let temperature = Field("temperature", .number(0...100), default: "0", "Sampling temperature (0 = greedy).")
    public static let seed = Field("seed", .integer(0...(1 << 53)), default: "0", "The sampler's seed, the same for both runs.")
    public static let promoted = Field("promoted", .integer(0...1_000_000), default: "10", "Report the probability mass steering moves onto this many of the steered features' most promoted tokens (W_dec·W_U), averaged over the prompt and the baseline continuation; 0 for none.")
    public static let positions = Field("positions", .integers, default: "all",
                                        "The positions steered (0 = the prompt's first token; generated tokens continue the count); all when absent.")
    public static let fields = [Field.prompt, .tokenIDs, sae, features, direction, hook, strength, mode, maxNewTokens, temperature, seed, promoted,
                                positions]

    public var prompt: PromptInput?
    public var sae: Int?
    public var features: [(feature: Int, strength: Double)]
    public var direction: [Float]?
    public var hook: String?
    public var strength: Double?
    public var mode = SteeringMode.add
    public var maxNewTokens = 32
    public var temperature = 0.0
    public var seed = 0
    public var promoted = 10
    /// nil: every position.
    public var positions: [Int]?

    public init(prompt: PromptInput?, sae: Int? = nil, features: [(feature: Int, strength: Double)], direction: [Float]? = nil,
                hook: String? = nil, strength: Double? = nil, mode: SteeringMode = .add, maxNewTokens: Int = 32,
                temperature: Double = 0, seed: Int = 0, promoted: Int = 10, positions: [Int]? = nil) {
        self.prompt = prompt
        self.sae = sae
        self.features = features
        self.direction = direction
        self.hook = hook
        self.strength = strength
        self.mode = mode
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.seed = seed
        self.promoted = promoted
        self.positions = positions
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        try json.refusePath(Self.sae)
        prompt = try json.prompt()
        sae = try json.int(Self.sae)
        features = try (json.objects(Self.features) ?? []).map { entry in
            try entry.requireKnown([Self.featureID, Self.featureStrength])
            guard let f = try entry.int(Self.featureID), let s = try entry.double(Self.featureStrength) else {
                throw AnalysisError.invalid("'features': each entry needs 'feature' (an integer) and 'strength' (a number)")
            }
            return (f, s)
        }
        direction = try json.numbers(Self.direction)?.map(Float.init)
        hook = try json.string(Self.hook)
        strength = try json.double(Self.strength)
        mode = try json.string(Self.mode).flatMap(SteeringMode.init(rawValue:)) ?? .add
        maxNewTokens = try json.int(Self.maxNewTokens) ?? maxNewTokens
        temperature = try json.double(Self.temperature) ?? temperature
        seed = try json.int(Self.seed) ?? seed
        promoted = try json.int(Self.promoted) ?? promoted
        positions = try json.ints(Self.positions)
    }

    public func validate(against context: AnalysisContext) throws {
        let limits = context.limits
        guard !features.isEmpty || direction != nil else {
            throw AnalysisError.invalid("give \(context.name(Self.features)) (SAE features) or \(context.name(Self.direction))")
        }
        guard features.count <= limits.steeringFeatures else {
            throw AnalysisError.invalid("\(context.name(Self.features)): at most \(limits.steeringFeatures) features at once")
        }
        if !features.isEmpty || sae != nil {
            let loaded = try context.sae(sae, Self.sae)
            for (f, s) in features {
                try context.check(f, Self.featureID.named(json: "feature", cli: "--feature"), 0...(loaded.dSAE - 1))
                try context.check(s, Self.featureStrength.named(json: "strength", cli: "--strength"))
            }
        }
        if let strength { try context.check(strength, Self.strength) }
        if let direction, let (index, value) = direction.enumerated().first(where: { !$0.element.isFinite }) {
            throw AnalysisError.invalid("\(context.name(Self.direction)): value \(index) is \(value): a steering direction must be finite")
        }
        if mode == .clamp {
            guard direction == nil else { throw AnalysisError.invalid("clamp mode sets features' activations: a raw direction can only be added") }
            let values = Dictionary(features.map { ($0.feature, [$0.strength]) }, uniquingKeysWith: +)
            if values.values.contains(where: { Set($0).count > 1 }) {
                throw AnalysisError.invalid("\(context.name(Self.features)): clamp mode sets each feature to one value: a feature is named with two strengths")
            }
        }
        if hook == nil && context.saes.isEmpty { throw AnalysisError.invalid("a raw direction needs \(context.name(Self.hook)) (or an SAE)") }
        try context.check(maxNewTokens, Self.maxNewTokens)
        try context.check(temperature, Self.temperature)
        try context.check(seed, Self.seed)
        try context.check(promoted, Self.promoted)
        if let positions {
            let end = context.transformer.config.contextLength
            if let bad = positions.first(where: { !(0..<end).contains($0) }) {
                throw AnalysisError.invalid("\(context.name(Self.positions)): position \(bad) is outside the model's context 0…\(end - 1)")
            }
            if positions.isEmpty { throw AnalysisError.invalid("\(context.name(Self.positions)): give at least one position, or leave it out to steer them all") }
        }
    }

    /// Lantern's `Steering` for this request: each feature scaled (add) or clamped (clamp) by its
    /// own strength, the raw direction by `strength`.
    func steering(_ context: AnalysisContext) throws -> Steering {
        let loaded = features.isEmpty && sae == nil && direction != nil && hook != nil ? nil : try context.sae(sae, Self.sae)
        return Steering(sae: loaded, features: features.map(\.feature), direction: direction, hookName: hook,
                        strength: Float(strength ?? features.first?.strength ?? 1), strengths: features.map { Float($0.strength) }, mode: mode,
                        positions: positions.map(Set.init))
    }

    /// The two continuations, ready to be stepped one forward pass at a time (the server
    /// interleaves them with other requests).
    public func start(on context: AnalysisContext) throws -> SteeringSession {
        let ids = try context.tokens(prompt, reserve: maxNewTokens)
        let steering = try steering(context)
        let sampler = Sampler(temperature: Float(temperature), seed: UInt64(seed))
        let model = context.transformer
        return SteeringSession(
            request: self, prompt: ids, steering: steering,
            baseline: try Continuation(model: model, prompt: ids, maxNewTokens: maxNewTokens, sampler: sampler),
            steered: try Continuation(model: model, prompt: ids, maxNewTokens: maxNewTokens, sampler: sampler,
                                      hooks: try steering.hooks(for: model)))
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> SteerResult {
        let session = try start(on: context)
        while let event = try session.step() { try monitor.step(event.index + 1, of: maxNewTokens, event.run) }
        return try session.result(context)
    }
}

extension Field {
    /// The same field named differently in error lines (an entry of a list of objects).
    func named(json: String, cli: String) -> Field { Field(json, flag: cli, kind, limit: limit, default: defaultText, help) }
}

/// Baseline and steered continuations advanced in turn, one token each per `step`.
public final class SteeringSession: @unchecked Sendable {
    public let request: SteerRequest
    public let prompt: [Int32]
    public let steering: Steering
    public let baseline: Continuation
    public let steered: Continuation

    init(request: SteerRequest, prompt: [Int32], steering: Steering, baseline: Continuation, steered: Continuation) {
        self.request = request
        self.prompt = prompt
        self.steering = steering
        self.baseline = baseline
        self.steered = steered
    }

    public var finished: Bool { baseline.finished && steered.finished }

    /// The next token of the run whose turn it is (baseline, steered, baseline, …; the other once
    /// one has ended), or nil when both have ended.
    public func step() throws -> (run: String, index: Int, token: Int32)? {
        for _ in 0..<2 {
            let (name, run) = steeredNext ? ("steered", steered) : ("baseline", baseline)
            steeredNext.toggle()
            if !run.finished, let token = try run.step() { return (name, run.tokens.count - 1, token) }
        }
        return nil
    }
    private var steeredNext = false

    /// The whole result, with the promoted tokens' probability mass (two more forward passes).
    public func result(_ context: AnalysisContext) throws -> SteerResult {
        let model = context.model
        var lift: (tokens: [Int32], baseline: Double, steered: Double)?
        if let sae = steering.sae, !request.features.isEmpty, request.promoted > 0 {
            // The tokens the steered features' summed decoder directions raise most (their logit effects).
            var vector = [Float](repeating: 0, count: sae.dIn)
            for f in Set(request.features.map(\.feature)).sorted() { for (i, v) in try sae.direction(f).enumerated() { vector[i] += v } }
            let tokens = try LogitEffects.of(direction: vector, model: model.transformer, count: request.promoted).positive.map(\.token)
            let mass = try steering.promotedMass(model.transformer, text: prompt + baseline.tokens, tokens: tokens)
            lift = (tokens, mass.baseline, mass.steered)
        }
        return SteerResult(prompt: prompt.map(Int.init), baseline: baseline.tokens.map(Int.init), steered: steered.tokens.map(Int.init),
                           baselineText: model.decode(baseline.tokens), steeredText: model.decode(steered.tokens),
                           mode: request.mode.rawValue, hook: steering.sae?.hookName ?? steering.hookName ?? "",
                           features: request.features.map(\.feature), strengths: request.features.map(\.strength),
                           strength: request.strength ?? request.features.first?.strength ?? 1,
                           promotedTokens: lift?.tokens.map(Int.init) ?? [], promotedMassBaseline: lift?.baseline,
                           promotedMassSteered: lift?.steered)
    }
}

public struct SteerResult: Encodable, Sendable {
    public var prompt: [Int]
    public var baseline: [Int]
    public var steered: [Int]
    public var baselineText: String
    public var steeredText: String
    public var mode: String
    public var hook: String
    public var features: [Int]
    public var strengths: [Double]
    public var strength: Double
    /// The steered features' most promoted tokens, and their mean next-token probability without
    /// and with steering (null without features or with `promoted` 0).
    public var promotedTokens: [Int]
    public var promotedMassBaseline: Double?
    public var promotedMassSteered: Double?

    enum CodingKeys: String, CodingKey {
        case prompt, baseline, steered, mode, hook, features, strengths, strength
        case baselineText = "baseline_text", steeredText = "steered_text", promotedTokens = "promoted_tokens"
        case promotedMassBaseline = "promoted_mass_baseline", promotedMassSteered = "promoted_mass_steered"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(baseline, forKey: .baseline)
        try c.encode(steered, forKey: .steered)
        try c.encode(baselineText, forKey: .baselineText)
        try c.encode(steeredText, forKey: .steeredText)
        try c.encode(mode, forKey: .mode)
        try c.encode(hook, forKey: .hook)
        try c.encode(features, forKey: .features)
        try c.encode(strengths, forKey: .strengths)
        try c.encode(strength, forKey: .strength)
        try c.encode(promotedTokens, forKey: .promotedTokens)
        try c.encode(promotedMassBaseline, forKey: .promotedMassBaseline)
        try c.encode(promotedMassSteered, forKey: .promotedMassSteered)
    }
}
