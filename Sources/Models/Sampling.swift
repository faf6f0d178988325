import Foundation
import LanternCore

/// SplitMix64: a small, seedable generator whose whole state is one integer, so that a seed
/// reproduces a generation exactly and a checkpoint can save it (SAE training).
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How the next token is chosen: greedy (temperature 0), or sampled with temperature,
/// top-k and top-p (nucleus) filtering.
public struct Sampler: Sendable {
    public var temperature: Float
    public var topK: Int?
    public var topP: Float?
    private var rng: SeededGenerator

    public static let greedy = Sampler(temperature: 0)

    public init(temperature: Float, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        rng = SeededGenerator(seed: seed)
    }

    /// The first index of the largest logit (as torch.argmax).
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best
    }

    public mutating func pick(_ logits: [Float]) -> Int32 {
        if temperature <= 0 { return Int32(Self.argmax(logits)) }
        var order = logits.indices.sorted { logits[$0] > logits[$1] }
        if let k = topK, k > 0, k < order.count { order.removeSubrange(k...) }
        let top = logits[order[0]]
        var probs = order.map { Double(exp((logits[$0] - top) / temperature)) }
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        if let p = topP, p < 1 {
            // Keep the smallest prefix whose mass reaches p.
            var mass = 0.0, keep = 0
            while keep < probs.count, mass < Double(p) { mass += probs[keep]; keep += 1 }
            order.removeSubrange(max(keep, 1)...)
            probs.removeSubrange(max(keep, 1)...)
        }
        let r = Double.random(in: 0..<probs.reduce(0, +), using: &rng)
        var acc = 0.0
        for (i, prob) in probs.enumerated() {
            acc += prob
            if r < acc { return Int32(order[i]) }
        }
        return Int32(order[probs.count - 1])
    }
}

public struct Generation: Sendable {
    /// The prompt's tokens.
    public var prompt: [Int32]
    /// The tokens generated after it.
    public var tokens: [Int32]
    /// The logits each new token was chosen from, when asked for.
    public var logits: [[Float]]
}

extension Transformer {
    /// Continues `prompt` by up to `maxNewTokens` tokens with a KV cache, stopping early at an
    /// end-of-sequence token unless `stopAtEOS` is false. `hooks` see every step.
    public func generate(prompt: [Int32], maxNewTokens: Int, sampler: Sampler = .greedy, hooks: Hooks? = nil,
                         stopAtEOS: Bool = true, keepLogits: Bool = false,
                         onToken: ((Int32) -> Void)? = nil) throws -> Generation {
        let continuation = try Continuation(model: self, prompt: prompt, maxNewTokens: maxNewTokens, sampler: sampler,
                                            hooks: hooks, stopAtEOS: stopAtEOS)
        var result = Generation(prompt: prompt, tokens: [], logits: [])
        while let token = try continuation.step() {
            if keepLogits, let logits = continuation.lastLogits { result.logits.append(logits) }
            onToken?(token)
        }
        result.tokens = continuation.tokens
        return result
    }
}

extension Transformer {
    /// Continues several prompts together, each step one batched forward pass over the unfinished
    /// ones (their prompts first, as rows of one pass; then a token each): every generation is the
    /// one `generate` gives its prompt alone — the same sampler (so the same seed) and hooks made
    /// for each by `hooks` — to the summation order of its logits, which a near-tie could turn.
    public func generate(prompts: [[Int32]], maxNewTokens: Int, sampler: Sampler = .greedy, hooks: (() -> Hooks?)? = nil,
                         stopAtEOS: Bool = true) throws -> [Generation] {
        let group = try prompts.map {
            try Continuation(model: self, prompt: $0, maxNewTokens: maxNewTokens, sampler: sampler, hooks: hooks?(), stopAtEOS: stopAtEOS)
        }
        while try Continuation.step(group).contains(where: { $0 != nil }) {}
        return group.map { Generation(prompt: $0.prompt, tokens: $0.tokens, logits: []) }
    }
}

/// One continuation of a prompt advanced a token per `step()` (one forward pass with the KV
/// cache): the one generation loop behind `generate`, steering's two columns and the server's
/// token streams, so that all of them choose the same tokens.
public final class Continuation: @unchecked Sendable {
    public let model: Transformer
    public let prompt: [Int32]
    public let maxNewTokens: Int
    public private(set) var tokens: [Int32] = []
    public private(set) var finished: Bool
    /// The logits the last token was chosen from.
    public private(set) var lastLogits: [Float]?
    private let hooks: Hooks?
    private let stopAtEOS: Bool
    private let cache: KVCache
    private var sampler: Sampler
    private var next: [Int32]

    public init(model: Transformer, prompt: [Int32], maxNewTokens: Int, sampler: Sampler = .greedy, hooks: Hooks? = nil,
                stopAtEOS: Bool = true) throws {
        guard !prompt.isEmpty else { throw LanternError.invalidArgument("the prompt has no tokens") }
        guard maxNewTokens >= 0 else { throw LanternError.invalidArgument("max new tokens must be ≥ 0") }
        let total = prompt.count + maxNewTokens
        guard total <= model.config.contextLength else {
            throw LanternError.invalidArgument("a prompt of \(prompt.count) tokens plus \(maxNewTokens) new tokens exceeds the model's context of \(model.config.contextLength)")
        }
        self.model = model
        self.prompt = prompt
        self.maxNewTokens = maxNewTokens
        self.sampler = sampler
        self.hooks = hooks
        self.stopAtEOS = stopAtEOS
        cache = try KVCache(model: model, capacity: total)
        next = prompt
        finished = maxNewTokens == 0
    }

    /// The next token, or nil once the continuation has ended.
    public func step() throws -> Int32? {
        guard !finished else { return nil }
        guard let out = try model.forward(next, cache: cache, hooks: hooks, logits: .last) else { finished = true; return nil }
        return try choose(from: try model.backend.read(out))
    }

    /// Advances every unfinished continuation of `group` (all of one model) by a token, in one
    /// batched forward pass over their caches (`forward(batch:caches:)`): each the token its own
    /// `step()` would choose, to the summation order of its logits. Nil for those that had ended.
    public static func step(_ group: [Continuation]) throws -> [Int32?] {
        let live = group.indices.filter { !group[$0].finished }
        guard let first = live.first else { return group.map { _ in nil } }
        if live.count == 1 { return try group.indices.map { $0 == first ? try group[first].step() : nil } }
        let model = group[first].model
        guard live.allSatisfy({ group[$0].model === model }) else {
            throw LanternError.invalidArgument("continuations of different models cannot step together")
        }
        let hooks = live.contains { group[$0].hooks != nil } ? live.map { group[$0].hooks } : nil
        let outs = try model.forward(batch: live.map { group[$0].next }, hooks: hooks, logits: .last, caches: live.map { group[$0].cache })
        var chosen = [Int32?](repeating: nil, count: group.count)
        for (out, i) in zip(outs, live) {
            guard let out else { group[i].finished = true; continue }
            chosen[i] = try group[i].choose(from: try model.backend.read(out))
        }
        return chosen
    }

    /// Picks the next token from the last position's logits and moves on.
    private func choose(from logits: [Float]) throws -> Int32 {
        // A NaN logit would make sampling trap and argmax pick token 0: stop here, naming its source.
        try model.requireFinite(logits: logits, tokens: prompt + tokens)
        lastLogits = logits
        let token = sampler.pick(logits)
        tokens.append(token)
        if (stopAtEOS && model.config.eosTokens.contains(token)) || tokens.count >= maxNewTokens { finished = true }
        next = [token]
        return token
    }
}
