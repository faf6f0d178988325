import Foundation
import LanternCore
import Models

/// A token and the probability the lens gives it.
public struct TokenProbability: Sendable, Equatable {
    public let token: Int32
    public let probability: Float
}

/// What one residual at one position says about the next token.
public struct LensCell: Sendable {
    /// The most likely tokens, best first.
    public let top: [TokenProbability]
    /// Entropy of the distribution, in nats.
    public let entropy: Float
    /// 1-based rank and probability of the target token, when one was given.
    public let targetRank: Int?
    public let targetProbability: Float?
}

/// Where the answer shows up: one token's rank and probability at the last position, per row.
public struct LensAnswer: Sendable, Equatable {
    /// The --target token, or (when none was given) the model's own top-1 at the last position.
    public let token: Int32
    /// Whether `token` was given rather than taken from the model's output.
    public let given: Bool
    /// 1-based rank per row (ties go to the lower id, as the top-k lists order them).
    public let ranks: [Int]
    public let probabilities: [Float]

    /// The first row where the token is the top-1 at all (it may drop back later).
    public var firstTopRowAny: Int? { ranks.firstIndex(of: 1) }

    /// The first row from which the token is the top-1 at every row up to the last (nil when it is
    /// not the top-1 at the last row): "the answer appears at layer N".
    public var firstTopRow: Int? {
        guard ranks.last == 1 else { return nil }
        var row = ranks.count - 1
        while row > 0 && ranks[row - 1] == 1 { row -= 1 }
        return row
    }
}

/// The logit lens of one prompt: `cells[row][position]`, rows being hook_embed (= layer 0's
/// resid_pre) then every layer's resid_post; with a tuned lens, its cells beside them.
public struct LensResult: Sendable {
    public let tokens: [Int32]
    /// The residual each row reads ("hook_embed", "blocks.0.hook_resid_post", ...).
    public let hookNames: [String]
    /// Short row labels: "embed", "0", "1", ...
    public let rowLabels: [String]
    public let cells: [[LensCell]]
    public let target: Int32?
    /// The answer's rank per row at the last position, through the logit lens.
    public let answer: LensAnswer
    /// The same through the tuned lens, when one was given.
    public let tunedCells: [[LensCell]]?
    public let tunedAnswer: LensAnswer?
    /// Where the tuned lens came from.
    public let tunedSource: String?
}

/// The logit lens (nostalgebraist 2020): read each layer's residual stream through the model's
/// own final norm and unembedding (and Gemma 2's final softcap), as if the model stopped there.
public enum LogitLens {
    /// hook_embed, then blocks.{l}.hook_resid_post for every layer.
    public static func residualHooks(layers: Int) -> [String] {
        [HookNames.embed] + (0..<layers).map { "blocks.\($0).hook_resid_post" }
    }

    /// The residuals of a model with `config`: as above, but GPT-2's first is block 0's input
    /// (hook_embed + hook_pos_embed), the residual its learned positions make; everywhere else
    /// hook_embed is that input.
    public static func residualHooks(_ config: ModelConfig) -> [String] {
        let hooks = residualHooks(layers: config.layerCount)
        return config.positions == .learned ? ["blocks.0.hook_resid_pre"] + hooks.dropFirst() : hooks
    }

    /// Lens logits [n, vocab] of a residual [n, hidden]: exactly the model's own head.
    public static func logits(_ model: Transformer, residual: Tensor) throws -> Tensor {
        try model.unembed(try model.finalNormed(residual))
    }

    /// Runs `tokens` once, capturing the residuals, and reads each through the lens (and through
    /// `tuned` too, when given).
    public static func run(_ model: Transformer, tokens: [Int32], topK: Int = 5, target: Int32? = nil,
                           tuned: TunedLens? = nil) throws -> LensResult {
        let vocab = model.config.vocabSize
        if let target, target < 0 || Int(target) >= vocab {
            throw LanternError.invalidArgument("target token \(target) is out of range: the vocabulary has \(vocab) tokens")
        }
        if let tuned { try tuned.check(against: model.config) }
        let names = residualHooks(model.config)
        let hooks = Hooks(capture: HookFilter(names))
        try model.forward(tokens, hooks: hooks, logits: .none)
        let residuals = try names.map { name in
            guard let residual = hooks.activation(name) else { throw LanternError.backend("the forward pass did not produce \(name)") }
            return residual
        }
        let plain = try read(model, residuals, positions: tokens.count, topK: topK, target: target)
        let tunedResiduals = try tuned.map { lens in try residuals.enumerated().map { try lens.translate($1, row: $0, backend: model.backend) } }
        let tunedRead = try tunedResiduals.map { try read(model, $0, positions: tokens.count, topK: topK, target: target) }
        // The model's own top-1 at the last position is the answer when no target is given.
        let answerToken = target ?? plain.cells.last!.last!.top[0].token
        func answer(_ residuals: [Tensor], _ read: (cells: [[LensCell]], last: [LogitRowSummary])) throws -> LensAnswer {
            // With a target, the cells' summaries ranked it already; else one more unembedding of
            // the last position of each row, for the answer's rank.
            let last = target != nil ? read.last : try lastPositionSummaries(model, residuals, positions: tokens.count, token: answerToken)
            return LensAnswer(token: answerToken, given: target != nil, ranks: last.map { $0.tokens[0].rank },
                              probabilities: last.map { $0.statistics.probability($0.tokens[0].logit) })
        }
        return LensResult(tokens: tokens, hookNames: names, rowLabels: rowLabels(layers: model.config.layerCount),
                          cells: plain.cells, target: target, answer: try answer(residuals, plain),
                          tunedCells: tunedRead?.cells, tunedAnswer: try tunedRead.map { try answer(tunedResiduals!, $0) },
                          tunedSource: tuned?.source)
    }

    /// Logits one unembedding product may produce at once (48 Mi floats, ~200 MB, or less where the
    /// backend's buffers are smaller): long prompts go through in slices of rows.
    static let logitBudget = 48 << 20

    /// The cells of every lens row, and the summaries of each row's last position. Every row's
    /// residuals go through the final norm and the unembedding as one stacked matrix, so the
    /// vocabulary's weights are read once for all layers instead of once per layer; each row of
    /// logits is reduced where it is (`Backend.logitSummaries`: on a GPU only the top-k and the
    /// ranks come back).
    static func read(_ model: Transformer, _ residuals: [Tensor], positions n: Int, topK: Int,
                     target: Int32?) throws -> (cells: [[LensCell]], last: [LogitRowSummary]) {
        let b = model.backend, vocab = model.config.vocabSize
        let normed = try model.finalNormed(try stack(model, residuals))
        let total = residuals.count * n
        let most = b.rowsPerSlice(width: vocab, budget: logitBudget)
        let slices = (total + most - 1) / most
        let sliceRows = (total + slices - 1) / slices
        var summaries: [LogitRowSummary] = []
        summaries.reserveCapacity(total)
        for start in stride(from: 0, to: total, by: sliceRows) {
            let logits = try model.unembed(try normed.rows(start..<min(total, start + sliceRows)))
            summaries += try b.logitSummaries(logits, topK: topK, tokens: target.map { [$0] } ?? [])
        }
        let cells = (0..<residuals.count).map { row in (0..<n).map { cell(summaries[row * n + $0], target: target) } }
        return (cells, (0..<residuals.count).map { summaries[$0 * n + n - 1] })
    }

    /// The residuals [n, d] of every row stacked into one [rows · n, d] tensor, copied where they
    /// lie (on a GPU they never visit the host).
    static func stack(_ model: Transformer, _ residuals: [Tensor]) throws -> Tensor {
        try model.backend.stackRows(residuals, width: model.config.hiddenSize)
    }

    /// Each row's last position through the lens, summarised with `token`'s rank.
    static func lastPositionSummaries(_ model: Transformer, _ residuals: [Tensor], positions n: Int,
                                      token: Int32) throws -> [LogitRowSummary] {
        let last = try residuals.map { try $0.rows((n - 1)..<n) }
        let logits = try model.unembed(try model.finalNormed(try stack(model, last)))
        return try model.backend.logitSummaries(logits, topK: 0, tokens: [token])
    }

    /// A lens cell from its row's summary: probabilities from the softmax normaliser.
    static func cell(_ s: LogitRowSummary, target: Int32?) -> LensCell {
        LensCell(top: s.top.map { TokenProbability(token: $0.token, probability: s.statistics.probability($0.logit)) },
                 entropy: Float(s.statistics.entropy),
                 targetRank: target == nil ? nil : s.tokens[0].rank,
                 targetProbability: target == nil ? nil : s.statistics.probability(s.tokens[0].logit))
    }

    /// `cell` over a row of logits, vectorised: the same top-k order, target rank and
    /// probabilities; entropy from the same sums. Ranks and order come from the logits (ties to
    /// the lower id), so tokens whose f32 probability underflows to 0 keep their logit order
    /// where `cell` would order them by id.
    public static func fastCell(_ logits: UnsafeBufferPointer<Float>, topK: Int, target: Int32?) -> LensCell {
        cell(.of(logits, topK: topK, tokens: target.map { [$0] } ?? []), target: target)
    }

    /// "embed", "0", "1", …: row r ≥ 1 is the output of block r − 1.
    public static func rowLabels(layers: Int) -> [String] {
        ["embed"] + (0..<layers).map(String.init)
    }

    /// 1-based rank of token `t` in `probs`; ties go to the lower id, as the top-k list orders them.
    public static func rank(of t: Int, in probs: [Float]) -> Int {
        var better = 0
        let pt = probs[t]
        for j in probs.indices where probs[j] > pt || (probs[j] == pt && j < t) { better += 1 }
        return better + 1
    }

    /// Softmax statistics of one row of logits.
    public static func cell(_ logits: [Float], topK: Int, target: Int32?) -> LensCell {
        let probs = softmax(logits)
        var entropy: Double = 0
        for p in probs where p > 0 { entropy -= Double(p) * log(Double(p)) }
        let order = Ranking.largest(topK, of: probs)
        let top = order.map { TokenProbability(token: Int32($0), probability: probs[$0]) }
        let targetRank = target.map { rank(of: Int($0), in: probs) }
        return LensCell(top: top, entropy: Float(entropy), targetRank: targetRank, targetProbability: target.map { probs[Int($0)] })
    }

    /// The plain reference of `fastCell` (and of `LogitStatistics`), in double precision.
    public static func softmax(_ logits: [Float]) -> [Float] {
        let top = logits.max() ?? 0
        let e = logits.map { Double(exp($0 - top)) }
        let total = e.reduce(0, +)
        return e.map { Float($0 / total) }
    }
}
