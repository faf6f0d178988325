import Foundation

/// What the lens keeps of one row of logits: the softmax normaliser, the k largest logits and the
/// ranks of a few tokens. A device backend computes these where the logits are and sends back
/// only them (a few dozen numbers for a 262 144-entry row).
public struct LogitRowSummary: Sendable, Equatable {
    /// max, Σ exp(l − max) and Σ exp(l − max)·(l − max): see `LogitStatistics.Summary`.
    public var statistics: LogitStatistics.Summary
    /// The k largest logits as (token, logit), largest first, ties to the lower token.
    public var top: [(token: Int32, logit: Float)]
    /// For each asked token, its 1-based rank (ties to the lower token, as `top` orders them) and logit.
    public var tokens: [(rank: Int, logit: Float)]

    public init(statistics: LogitStatistics.Summary, top: [(token: Int32, logit: Float)], tokens: [(rank: Int, logit: Float)]) {
        (self.statistics, self.top, self.tokens) = (statistics, top, tokens)
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.statistics == b.statistics && a.top.elementsEqual(b.top, by: { $0 == $1 }) && a.tokens.elementsEqual(b.tokens, by: { $0 == $1 })
    }

    /// The summary of one row on the host (`LogitStatistics`).
    public static func of(_ row: UnsafeBufferPointer<Float>, topK: Int, tokens: [Int32]) -> Self {
        Self(statistics: LogitStatistics.summary(row),
             top: LogitStatistics.largest(topK, of: row).map { (Int32($0), row[$0]) },
             tokens: tokens.map { (LogitStatistics.rank(of: Int($0), in: row), row[Int($0)]) })
    }
}

extension Backend {
    /// Every row of `logits` [rows, vocab] summarised on the host, rows in parallel: the CPU
    /// backend's way (its logits are in host memory already); a device backend does it in place.
    public func hostLogitSummaries(_ logits: Tensor, topK: Int, tokens: [Int32]) throws -> [LogitRowSummary] {
        try checkLogitSummaries(logits, topK: topK, tokens: tokens)
        return try hostLogitSummaries(logits, topK: topK) { _ in tokens }
    }

    /// The same with row r asked for `rowTokens[r]` alone.
    public func hostLogitSummaries(_ logits: Tensor, topK: Int, rowTokens: [Int32]) throws -> [LogitRowSummary] {
        try checkLogitSummaries(logits, topK: topK, rowTokens: rowTokens)
        return try hostLogitSummaries(logits, topK: topK) { [rowTokens[$0]] }
    }

    private func hostLogitSummaries(_ logits: Tensor, topK: Int, asked: @Sendable (Int) -> [Int32]) throws -> [LogitRowSummary] {
        let vocab = logits.width, rows = logits.rowCount
        return try withValues(logits) { all in
            var out = [LogitRowSummary?](repeating: nil, count: rows)
            out.withUnsafeMutableBufferPointer { slots in
                let shared = UncheckedBox(slots)
                Parallel.forEach(rows) { r in
                    shared.value[r] = .of(UnsafeBufferPointer(rebasing: all[(r * vocab)..<((r + 1) * vocab)]), topK: topK, tokens: asked(r))
                }
            }
            return out.map { $0! }
        }
    }

    public func checkLogitSummaries(_ logits: Tensor, topK: Int, tokens: [Int32]) throws {
        let vocab = logits.width
        guard vocab > 0, topK >= 0, topK <= vocab else {
            throw LanternError.invalidArgument("logit summaries: top \(topK) of rows of \(vocab) logits")
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw LanternError.invalidArgument("token \(bad) is out of range: the rows have \(vocab) logits")
        }
    }

    public func checkLogitSummaries(_ logits: Tensor, topK: Int, rowTokens: [Int32]) throws {
        guard rowTokens.count == logits.rowCount else {
            throw LanternError.invalidArgument("logit summaries: \(rowTokens.count) row tokens for \(logits.rowCount) rows of logits")
        }
        try checkLogitSummaries(logits, topK: topK, tokens: rowTokens)
    }
}
