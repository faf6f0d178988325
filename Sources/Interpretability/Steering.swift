import Foundation
import LanternCore
import Models

/// How a steering vector is applied.
public enum SteeringMode: String, Sendable, CaseIterable {
    /// x += strength · W_dec[f] at every steered position of every step (Neuronpedia's additive steering).
    case add
    /// Set feature f's activation to `strength`, keeping the SAE's error term, so only f changes.
    case clamp
}

/// What to steer with: SAE features, a raw direction, or both (add mode only for a direction).
public struct Steering {
    public var sae: SAE?
    public var features: [Int]
    public var direction: [Float]?
    /// The hook a raw direction is added to when there is no SAE.
    public var hookName: String?
    public var strength: Float
    /// One value per feature (in `features`' order) instead of `strength` for all: add mode scales
    /// each feature's direction by its own, clamp mode sets each to its own; `strength` then
    /// scales only the raw direction.
    public var strengths: [Float]?
    public var mode: SteeringMode
    /// The absolute positions (0 = the prompt's first token) steered; nil: every position of the
    /// prompt and of every generated token.
    public var positions: Set<Int>?

    public init(sae: SAE?, features: [Int] = [], direction: [Float]? = nil, hookName: String? = nil,
                strength: Float, strengths: [Float]? = nil, mode: SteeringMode = .add, positions: Set<Int>? = nil) {
        self.sae = sae
        self.features = features
        self.direction = direction
        self.hookName = hookName
        self.strength = strength
        self.strengths = strengths
        self.mode = mode
        self.positions = positions
    }

    /// The rows of an activation at absolute `rows` that are steered.
    func steered(_ rows: Range<Int>) -> [Int] {
        guard let positions else { return Array(0..<rows.count) }
        return rows.enumerated().filter { positions.contains($0.element) }.map(\.offset)
    }

    /// Hooks that apply the steering during a forward pass or a whole generation, capturing
    /// `capture` (after the steering) as well.
    public func hooks(for model: Transformer, capture: HookFilter = .none) throws -> Hooks {
        guard let hook = sae?.hookName ?? hookName else {
            throw LanternError.invalidArgument("steering needs an SAE or a hook name for the direction")
        }
        guard let width = HookWidths.width(of: hook, in: model.config) else {
            throw LanternError.invalidArgument("the model has no hook '\(hook)'")
        }
        if let sae { try sae.check(against: model.config) }
        if let direction, direction.count != width {
            throw LanternError.invalidArgument("the steering direction has \(direction.count) values but \(hook) is \(width) wide")
        }
        if !features.isEmpty && sae == nil { throw LanternError.invalidArgument("steering features need an SAE") }
        let hooks = Hooks(capture: capture)
        let backend = model.backend
        switch mode {
        case .add:
            if let strengths, strengths.count != features.count {
                throw LanternError.invalidArgument("add mode got \(strengths.count) strengths for \(features.count) features")
            }
            var vector = [Float](repeating: 0, count: width)
            for (k, f) in features.enumerated() {
                guard let sae else { break }
                let s = strengths?[k] ?? strength
                for (i, v) in try sae.direction(f).enumerated() { vector[i] += s * v }
            }
            for (i, v) in (direction ?? []).enumerated() { vector[i] += strength * v }
            let steer = try backend.tensor(vector, shape: [width])
            let everywhere = positions == nil
            hooks.intervene(hook) { x, ctx in
                if everywhere { return try ctx.backend.add(x, steer) }
                let rows = steered(ctx.positions)
                guard !rows.isEmpty else { return x }
                var delta = [Float](repeating: 0, count: x.rowCount * width)
                for r in rows { delta.replaceSubrange((r * width)..<((r + 1) * width), with: vector) }
                return try ctx.backend.add(x, try ctx.backend.tensor(delta, shape: x.shape))
            }
        case .clamp:
            guard let sae, !features.isEmpty, direction == nil else {
                throw LanternError.invalidArgument("clamp mode needs an SAE and features (a raw direction can only be added)")
            }
            for f in features where f < 0 || f >= sae.dSAE {
                throw LanternError.invalidArgument("feature \(f) is out of range: the SAE has \(sae.dSAE) features (0..<\(sae.dSAE))")
            }
            if let strengths, strengths.count != features.count {
                throw LanternError.invalidArgument("clamp mode got \(strengths.count) strengths for \(features.count) features")
            }
            let targets = zip(features, strengths ?? features.map { _ in strength }).map { (feature: $0, value: $1) }
            hooks.intervene(hook) { x, ctx in
                // x̂' + (x − x̂) = x + (acts' − acts)·W_dec: only the clamped features' terms change.
                let rows = steered(ctx.positions)
                guard !rows.isEmpty else { return x }
                let acts = try ctx.backend.read(try sae.encode(x))
                var delta = [Float](repeating: 0, count: acts.count)
                for r in rows { for (f, value) in targets { delta[r * sae.dSAE + f] = value - acts[r * sae.dSAE + f] } }
                let change = try ctx.backend.matmul(try ctx.backend.tensor(delta, shape: [x.rowCount, sae.dSAE]), sae.decoder)
                return try ctx.backend.add(x, change)
            }
        }
        return hooks
    }

    /// Baseline and steered continuations of `prompt`, each with its own copy of `sampler` (same seed).
    public func compare(_ model: Transformer, prompt: [Int32], maxNewTokens: Int, sampler: Sampler = .greedy,
                        stopAtEOS: Bool = true) throws -> (baseline: Generation, steered: Generation) {
        let steeringHooks = try hooks(for: model)
        let baseline = try model.generate(prompt: prompt, maxNewTokens: maxNewTokens, sampler: sampler, stopAtEOS: stopAtEOS)
        let steered = try model.generate(prompt: prompt, maxNewTokens: maxNewTokens, sampler: sampler,
                                         hooks: steeringHooks, stopAtEOS: stopAtEOS)
        return (baseline, steered)
    }

    /// How steering moves probability onto `tokens` (a feature's promoted tokens, say): the mean,
    /// over every position of `text` (teacher-forced: the prompt and the baseline continuation),
    /// of the next-token probability mass on `tokens`, without and with the steering hooks.
    public func promotedMass(_ model: Transformer, text: [Int32], tokens: [Int32]) throws -> (baseline: Double, steered: Double) {
        (try Self.promotedMass(model, text: text, tokens: tokens, hooks: nil),
         try Self.promotedMass(model, text: text, tokens: tokens, hooks: try hooks(for: model)))
    }

    /// The mean next-token probability mass on `tokens` over the positions of `text`, with `hooks`
    /// (nil: the unsteered model).
    public static func promotedMass(_ model: Transformer, text: [Int32], tokens: [Int32], hooks: Hooks?) throws -> Double {
        let vocab = model.config.vocabSize
        for t in tokens where t < 0 || Int(t) >= vocab {
            throw LanternError.invalidArgument("token \(t) is out of range: the vocabulary has \(vocab) tokens")
        }
        guard !text.isEmpty, let logits = try model.forward(text, hooks: hooks, logits: .all) else { return 0 }
        let values = try model.backend.read(logits)
        var total = 0.0
        for p in 0..<text.count {
            let probs = LogitLens.softmax(Array(values[(p * vocab)..<((p + 1) * vocab)]))
            total += tokens.reduce(0.0) { $0 + Double(probs[Int($1)]) }
        }
        return total / Double(text.count)
    }
}


/// How fluent a continuation is: its mean log-probability per token under the (unsteered) model,
/// teacher-forced after the prompt — minus the streamed next-token loss over its positions.
/// Steering that breaks the text shows as a drop below the unsteered continuation's.
public enum SteeringFluency {
    public static func meanLogLikelihood(_ model: Transformer, prompt: [Int32], continuation: [Int32]) throws -> Double {
        guard !prompt.isEmpty, !continuation.isEmpty else { return 0 }
        let losses = try NextTokenLoss.crossEntropies(model, prompt + continuation, hooks: nil)
        return -losses[(prompt.count - 1)...].compactMap { $0 }.reduce(0, +) / Double(continuation.count)
    }
}
