import Foundation
import LanternCore
import Models

/// How an ablated activation is replaced.
public enum AblationKind: String, Sendable, CaseIterable {
    /// By zeros.
    case zero
    /// By its mean over the prompt's positions (TransformerLens uses a dataset mean; here the prompt is the data).
    case mean
}

/// The effect of an ablation or a patch on one token's logit at the last position.
public struct PatchEffect: Sendable {
    public let target: Int32
    public let cleanLogit: Float
    public let patchedLogit: Float
    public let cleanProbability: Float
    public let patchedProbability: Float
    public var logitChange: Float { patchedLogit - cleanLogit }
}

/// Ablation and activation patching, the basics of TransformerLens's `patching`: change one hook's
/// activation at chosen positions and see what happens to a target token's logit.
public enum Patching {
    /// Hooks that zero- or mean-ablate `hook` at `positions` (all when nil).
    public static func ablation(_ hook: String, kind: AblationKind, positions: [Int]? = nil) -> Hooks {
        let hooks = Hooks()
        hooks.intervene(hook) { x, ctx in
            guard x.rank == 2 else { throw LanternError.invalidArgument("cannot ablate \(hook): only [tokens, width] activations") }
            var values = try ctx.backend.read(x)
            let (rows, width) = (x.rowCount, x.width)
            var mean = [Float](repeating: 0, count: width)
            if kind == .mean {
                for r in 0..<rows { for i in 0..<width { mean[i] += values[r * width + i] / Float(rows) } }
            }
            for (r, position) in ctx.positions.enumerated() where positions?.contains(position) ?? true {
                for i in 0..<width { values[r * width + i] = mean[i] }
            }
            return try ctx.backend.tensor(values, shape: x.shape)
        }
        return hooks
    }

    /// Hooks that write `source`'s rows (an activation of the same hook from another prompt) over
    /// the activation at `positions` (all positions both prompts have when nil); with `columns`,
    /// only those columns of each row (one head's slice of hook_z or hook_result).
    public static func patch(_ hook: String, from source: Tensor, positions: [Int]? = nil, columns: Range<Int>? = nil) -> Hooks {
        let hooks = Hooks()
        hooks.intervene(hook) { x, ctx in
            guard x.rank == 2, x.width == source.width, columns.map({ $0.lowerBound >= 0 && $0.upperBound <= x.width }) ?? true else {
                throw LanternError.shapeMismatch(op: "patch \(hook)", detail: "activation \(x.shape), source \(source.shape)")
            }
            if let columns {
                // A slice of a row: a host round trip (the activation is one prompt's worth).
                var values = try ctx.backend.read(x)
                let from = try ctx.backend.read(source)
                for (r, position) in ctx.positions.enumerated() where positions?.contains(position) ?? true {
                    guard position < source.rowCount else { continue }
                    for j in columns { values[r * x.width + j] = from[position * x.width + j] }
                }
                return try ctx.backend.tensor(values, shape: x.shape)
            }
            let y = try ctx.backend.scale(x, by: 1)
            for (r, position) in ctx.positions.enumerated() where positions?.contains(position) ?? true {
                guard position < source.rowCount else { continue }
                try ctx.backend.copyRows(try source.rows(position..<(position + 1)), into: y, at: r)
            }
            return y
        }
        return hooks
    }

    /// Target-token logit change when `hook` is ablated.
    public static func ablate(_ model: Transformer, tokens: [Int32], hook: String, kind: AblationKind,
                              positions: [Int]? = nil, target: Int32) throws -> PatchEffect {
        try checkHook(hook, model: model, positions: positions, length: tokens.count)
        return try effect(model, tokens: tokens, hooks: ablation(hook, kind: kind, positions: positions), target: target)
    }

    /// Target-token logit change on `tokens` when `hook`'s activation at `positions` is taken from
    /// a run on `source`.
    public static func patch(_ model: Transformer, tokens: [Int32], from source: [Int32], hook: String,
                             positions: [Int]? = nil, target: Int32) throws -> PatchEffect {
        try checkHook(hook, model: model, positions: positions, length: min(tokens.count, source.count))
        // Position i takes the source's position i: with different lengths "all positions" has no
        // one meaning (the old behaviour skipped the extra ones silently).
        guard positions != nil || tokens.count == source.count else {
            throw LanternError.invalidArgument("the prompt is \(tokens.count) tokens and the source prompt \(source.count): patching copies position i to position i, so give prompts of the same token length, or --positions within both (0..<\(min(tokens.count, source.count)))")
        }
        let capture = Hooks(capture: HookFilter([hook]))
        try model.forward(source, hooks: capture, logits: .none)
        guard let activation = capture.activation(hook) else { throw LanternError.backend("the source run did not produce \(hook)") }
        return try effect(model, tokens: tokens, hooks: patch(hook, from: activation, positions: positions), target: target)
    }

    static func checkHook(_ hook: String, model: Transformer, positions: [Int]?, length: Int) throws {
        guard HookWidths.width(of: hook, in: model.config) != nil else {
            throw LanternError.invalidArgument("the model has no hook '\(hook)' that holds [tokens, width] activations")
        }
        if let bad = positions?.first(where: { $0 < 0 || $0 >= length }) {
            throw LanternError.invalidArgument("position \(bad) is out of range: the prompt has \(length) tokens")
        }
    }

    static func effect(_ model: Transformer, tokens: [Int32], hooks: Hooks, target: Int32) throws -> PatchEffect {
        guard target >= 0, Int(target) < model.config.vocabSize else {
            throw LanternError.invalidArgument("target token \(target) is out of range: the vocabulary has \(model.config.vocabSize) tokens")
        }
        func last(_ hooks: Hooks?) throws -> [Float] {
            guard let logits = try model.forward(tokens, hooks: hooks, logits: .last) else { return [] }
            return try model.backend.read(logits)
        }
        let clean = try last(nil), patched = try last(hooks)
        let t = Int(target)
        return PatchEffect(target: target, cleanLogit: clean[t], patchedLogit: patched[t],
                           cleanProbability: LogitLens.softmax(clean)[t], patchedProbability: LogitLens.softmax(patched)[t])
    }
}
