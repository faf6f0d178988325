import Foundation
import LanternCore
import Models

/// How a grid's values were obtained.
public enum PatchingMethod: String, Sendable, Codable {
    /// One forward pass per cell with that activation really patched.
    case activation
    /// Attribution patching: a first-order estimate from gradients, (corrupted − clean) · ∂metric/∂activation.
    case attribution
}

/// One row of a sweep grid: a hook, and the head when the sweep goes head by head.
public struct PatchingRow: Sendable, Hashable {
    public let hook: String
    public let layer: Int?
    public let head: Int?
    /// The columns of the hook's activation the row patches (one head's slice), nil for the whole row.
    public let columns: Range<Int>?

    /// "3" for a layer, "3.1" for layer 3 head 1, the hook's name for hooks outside the blocks.
    public var label: String {
        guard let layer else { return hook }
        return head.map { "\(layer).\($0)" } ?? "\(layer)"
    }
}

/// A sweep's values for one hook family (e.g. `blocks.*.hook_resid_pre`): `values[row][position]`
/// is the normalised metric with that row's activation at that position patched. An approximate
/// grid (method `.attribution`) has the same rows and positions, so the two can be set side by side.
public struct PatchingGrid: Sendable {
    /// The hook names with the layer replaced by `*`.
    public let family: String
    public let method: PatchingMethod
    public let rows: [PatchingRow]
    /// Normalised metric: 0 = the corrupted run's logit difference, 1 = the clean run's.
    public var values: [[Float]]
    /// The patched run's logit difference itself (for `.activation`; estimated for `.attribution`).
    public var logitDifferences: [[Float]]

    public init(family: String, method: PatchingMethod, rows: [PatchingRow], values: [[Float]], logitDifferences: [[Float]]) {
        self.family = family
        self.method = method
        self.rows = rows
        self.values = values
        self.logitDifferences = logitDifferences
    }

    /// Pearson correlation and the largest |difference| between this grid's values and another's
    /// over the same rows and positions (an approximation against the real sweep).
    public func agreement(with other: PatchingGrid) throws -> (correlation: Double, maxAbsDifference: Double) {
        guard rows == other.rows, values.map(\.count) == other.values.map(\.count) else {
            throw LanternError.invalidArgument("grids of \(family) and \(other.family) do not cover the same rows and positions")
        }
        let a = values.flatMap { $0 }.map(Double.init), b = other.values.flatMap { $0 }.map(Double.init)
        let (ma, mb) = (a.reduce(0, +) / Double(a.count), b.reduce(0, +) / Double(b.count))
        var (sab, saa, sbb, worst) = (0.0, 0.0, 0.0, 0.0)
        for (x, y) in zip(a, b) {
            sab += (x - ma) * (y - mb); saa += (x - ma) * (x - ma); sbb += (y - mb) * (y - mb)
            worst = max(worst, abs(x - y))
        }
        return (sab / max((saa * sbb).squareRoot(), 1e-300), worst)
    }
}

/// What a sweep returns: the two reference runs and one grid per hook family and method.
public struct PatchingSweepResult: Sendable {
    public let cleanTokens: [Int32]
    public let corruptedTokens: [Int32]
    public let target: Int32
    public let baseline: Int32?
    public let cleanDifference: Float
    public let corruptedDifference: Float
    /// Real sweeps first; approximate grids may be appended beside them.
    public var grids: [PatchingGrid]

    public init(cleanTokens: [Int32], corruptedTokens: [Int32], target: Int32, baseline: Int32?,
                cleanDifference: Float, corruptedDifference: Float, grids: [PatchingGrid]) {
        self.cleanTokens = cleanTokens
        self.corruptedTokens = corruptedTokens
        self.target = target
        self.baseline = baseline
        self.cleanDifference = cleanDifference
        self.corruptedDifference = corruptedDifference
        self.grids = grids
    }

    public func grid(family: String, method: PatchingMethod = .activation) -> PatchingGrid? {
        grids.first { $0.family == family && $0.method == method }
    }
}

/// Activation-patching sweeps (TransformerLens's `patching.get_act_patch_*`): for every hook that
/// matches the patterns, every position (and every head where the hook holds heads), run the
/// clean prompt with that one activation taken from the corrupted prompt's run, and measure the
/// logit difference logit(target) − logit(baseline) at the last position, normalised so that 0 is
/// the corrupted run and 1 the clean one.
public struct PatchingSweep {
    public let model: Transformer
    public let clean: [Int32]
    public let corrupted: [Int32]
    public let target: Int32
    public let baseline: Int32?
    public let cleanDifference: Float
    public let corruptedDifference: Float

    /// Runs both prompts once. Refuses prompts of different token lengths (positions would not
    /// line up) and a target whose difference the corruption does not change (nothing to normalise).
    public init(model: Transformer, clean: [Int32], corrupted: [Int32], target: Int32, baseline: Int32?) throws {
        guard clean.count == corrupted.count else {
            throw LanternError.invalidArgument("the clean prompt is \(clean.count) tokens and the corrupted (source) prompt is \(corrupted.count): a patching sweep needs prompts of the same token length")
        }
        guard !clean.isEmpty else { throw LanternError.invalidArgument("no tokens to patch") }
        for (what, token) in [("target", target), ("baseline", baseline ?? 0)] where token < 0 || Int(token) >= model.config.vocabSize {
            throw LanternError.invalidArgument("\(what) token \(token) is out of range: the vocabulary has \(model.config.vocabSize) tokens")
        }
        self.model = model
        self.clean = clean
        self.corrupted = corrupted
        self.target = target
        self.baseline = baseline
        func difference(_ tokens: [Int32]) throws -> Float {
            guard let logits = try model.forward(tokens, logits: .last) else { throw LanternError.backend("no logits") }
            let l = try model.backend.read(logits)
            return l[Int(target)] - (baseline.map { l[Int($0)] } ?? 0)
        }
        cleanDifference = try difference(clean)
        corruptedDifference = try difference(corrupted)
        guard abs(cleanDifference - corruptedDifference) > 1e-6 * max(1, abs(cleanDifference)) else {
            throw LanternError.invalidArgument(String(format: "the clean and corrupted prompts give the same logit difference (%.6g): there is nothing to normalise; pick another target/baseline or corruption", Double(cleanDifference)))
        }
    }

    /// The metric normalised: 0 = corrupted, 1 = clean.
    public func normalised(_ difference: Float) -> Float {
        (difference - corruptedDifference) / (cleanDifference - corruptedDifference)
    }

    /// The rows each pattern family sweeps, in the model's hook order; hooks that hold heads are
    /// swept head by head (attn.hook_z, q, k, v and their rotated forms, hook_result).
    public func families(_ patterns: [String]) throws -> [(family: String, rows: [PatchingRow])] {
        let c = model.config
        let names = HookNames.all(c)
        var order: [String] = [], rows: [String: [PatchingRow]] = [:]
        for pattern in patterns {
            let matched = names.filter { HookFilter([pattern]).matches($0) }
            guard !matched.isEmpty else {
                throw LanternError.invalidArgument("--hooks '\(pattern)' matches no hook of this model (see `lantern trace --list-hooks`)")
            }
            for name in matched {
                guard let width = HookWidths.width(of: name, in: c) else {
                    throw LanternError.invalidArgument("cannot sweep \(name): only hooks that hold one row per token can be patched (not attention patterns)")
                }
                let layer = Self.layer(of: name)
                let family = layer.map { name.replacingOccurrences(of: "blocks.\($0).", with: "blocks.*.") } ?? name
                if rows[family] == nil { order.append(family); rows[family] = [] }
                guard !(rows[family]!.contains { $0.hook == name }) else { continue }
                if let (heads, slice) = Self.headLayout(of: name, config: c), slice * heads == width {
                    rows[family]! += (0..<heads).map { PatchingRow(hook: name, layer: layer, head: $0, columns: ($0 * slice)..<(($0 + 1) * slice)) }
                } else {
                    rows[family]!.append(PatchingRow(hook: name, layer: layer, head: nil, columns: nil))
                }
            }
        }
        return order.map { ($0, rows[$0]!) }
    }

    /// Patches every row × position of the families `patterns` select: one forward pass per cell,
    /// over the positions from the patched one on (the clean prefix comes from a KV cache, so a
    /// cell that changes nothing gives 1 up to the cache's rounding, ~1e-6). `progress(done, total)`
    /// follows the cells (0 once the corrupted run is in); it may throw to stop the sweep there.
    public func run(_ patterns: [String], progress: (_ done: Int, _ total: Int) throws -> Void = { _, _ in }) throws -> PatchingSweepResult {
        let families = try self.families(patterns)
        let hooksNeeded = Set(families.flatMap { $0.rows.map(\.hook) })
        let capture = Hooks(capture: HookFilter(Array(hooksNeeded)))
        try model.forward(corrupted, hooks: capture, logits: .none)
        let n = clean.count
        let total = families.reduce(0) { $0 + $1.rows.count } * n
        var done = 0
        try progress(done, total)
        var differences = families.map { family in family.rows.map { _ in [Float](repeating: 0, count: n) } }
        // Patching position p leaves positions before p as in the clean run, so their keys and
        // values are computed once per p and each cell runs only positions p..<n.
        let prefix = try KVCache(model: model, capacity: n)
        for p in 0..<n {
            prefix.truncate(to: 0)
            if p > 0 { try model.forward(Array(clean[0..<p]), cache: prefix, logits: .none) }
            for (f, family) in families.enumerated() {
                for (r, row) in family.rows.enumerated() {
                    guard let source = capture.activation(row.hook) else { throw LanternError.backend("the corrupted run did not produce \(row.hook)") }
                    prefix.truncate(to: p)
                    let hooks = Patching.patch(row.hook, from: source, positions: [p], columns: row.columns)
                    guard let logits = try model.forward(Array(clean[p..<n]), cache: prefix, hooks: hooks, logits: .last) else {
                        throw LanternError.backend("no logits")
                    }
                    let l = try model.backend.read(logits)
                    differences[f][r][p] = l[Int(target)] - (baseline.map { l[Int($0)] } ?? 0)
                    done += 1
                    try progress(done, total)
                }
            }
        }
        let grids = families.enumerated().map { f, family in
            PatchingGrid(family: family.family, method: .activation, rows: family.rows,
                         values: differences[f].map { $0.map(normalised) }, logitDifferences: differences[f])
        }
        return PatchingSweepResult(cleanTokens: clean, corruptedTokens: corrupted, target: target, baseline: baseline,
                                   cleanDifference: cleanDifference, corruptedDifference: corruptedDifference, grids: grids)
    }

    static func layer(of hook: String) -> Int? {
        guard hook.hasPrefix("blocks.") else { return nil }
        return Int(hook.dropFirst("blocks.".count).prefix { $0 != "." })
    }

    /// (heads, columns per head) for hooks laid out head by head.
    static func headLayout(of hook: String, config c: ModelConfig) -> (Int, Int)? {
        if hook.hasSuffix("attn.hook_result") { return (c.heads, c.hiddenSize) }
        for suffix in ["attn.hook_z", "attn.hook_q", "attn.hook_q_normed", "attn.hook_rot_q"] where hook.hasSuffix(suffix) { return (c.heads, c.headDim) }
        for suffix in ["attn.hook_k", "attn.hook_k_normed", "attn.hook_v", "attn.hook_rot_k"] where hook.hasSuffix(suffix) { return (c.kvHeads, c.headDim) }
        return nil
    }
}
