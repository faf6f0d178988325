import Foundation
import LanternCore
import Models

/// How far each lens row is from the model's own output: the mean over tokens of
/// KL(final distribution ‖ lens distribution), in nats, per row; for the logit lens and, when
/// given, a tuned lens (the quantity the tuned lens is trained to lower).
public struct LensDivergenceReport: Sendable {
    public let hookNames: [String]
    public let rowLabels: [String]
    /// Positions averaged over (BOS left out unless asked for).
    public let tokens: Int
    public let logitKL: [Double]
    public let tunedKL: [Double]?
}

public enum LensDivergence {
    /// Runs each context once and reads every row through the lens(es). `progress` gets the
    /// number of contexts done; what it throws stops the evaluation (a caller's cancel).
    public static func evaluate(_ model: Transformer, contexts: [[Int32]], tuned: TunedLens? = nil, includeBOS: Bool = false,
                                progress: (Int) throws -> Void = { _ in }) throws -> LensDivergenceReport {
        if let tuned { try tuned.check(against: model.config) }
        let layers = model.config.layerCount, vocab = model.config.vocabSize
        let names = LogitLens.residualHooks(model.config)
        var logitSum = [Double](repeating: 0, count: names.count), tunedSum = logitSum
        var tokens = 0
        for (index, context) in contexts.enumerated() {
            let first = includeBOS ? 0 : 1
            guard context.count > first else { continue }
            let hooks = Hooks(capture: HookFilter(names))
            guard let final = try model.forward(context, hooks: hooks, logits: .all) else {
                throw LanternError.backend("the forward pass returned no logits")
            }
            let rows = first..<context.count
            let finalLogits = try model.backend.read(try final.rows(rows))
            let logP = logSoftmaxRows(finalLogits, vocab: vocab)
            for (row, name) in names.enumerated() {
                guard let residual = hooks.activation(name) else { throw LanternError.backend("the forward pass did not produce \(name)") }
                let h = try residual.rows(rows)
                // The lens logits (rows × vocabulary, 134 MB for 128 tokens of Gemma 3) are read in place.
                logitSum[row] += try model.backend.withValues(try LogitLens.logits(model, residual: h)) {
                    klSum(logP: logP, lensLogits: $0, vocab: vocab)
                }
                if let tuned {
                    tunedSum[row] += try model.backend.withValues(try tuned.logits(model, residual: h, row: row)) {
                        klSum(logP: logP, lensLogits: $0, vocab: vocab)
                    }
                }
            }
            tokens += rows.count
            try progress(index + 1)
        }
        guard tokens > 0 else { throw LanternError.invalidArgument("no tokens to evaluate the lens on") }
        return LensDivergenceReport(hookNames: names, rowLabels: LogitLens.rowLabels(layers: layers), tokens: tokens,
                                    logitKL: logitSum.map { $0 / Double(tokens) },
                                    tunedKL: tuned == nil ? nil : tunedSum.map { $0 / Double(tokens) })
    }

    /// log softmax of each row of `logits` [rows, vocab].
    public static func logSoftmaxRows(_ logits: [Float], vocab: Int) -> [Float] {
        var out = [Float](repeating: 0, count: logits.count)
        let rows = logits.count / vocab
        logits.withUnsafeBufferPointer { z in
            out.withUnsafeMutableBufferPointer { o in
                let (zp, op) = (UncheckedPointer(z.baseAddress!), UncheckedMutablePointer(o.baseAddress!))
                Parallel.forEach(rows) { r in
                    let row = zp.pointer + r * vocab, dst = op.pointer + r * vocab
                    let shift = maxAndLogSumExp(row, vocab)
                    for j in 0..<vocab { dst[j] = row[j] - shift }
                }
            }
        }
        return out
    }

    /// Σ over rows of KL(p ‖ softmax(z)) = Σⱼ pⱼ (log pⱼ − zⱼ) + logsumexp(z), given log p.
    public static func klSum(logP: [Float], lensLogits: [Float], vocab: Int) -> Double {
        lensLogits.withUnsafeBufferPointer { klSum(logP: logP, lensLogits: $0, vocab: vocab) }
    }

    /// `klSum` over logits lent in place (`Backend.withValues`).
    public static func klSum(logP: [Float], lensLogits z: UnsafeBufferPointer<Float>, vocab: Int) -> Double {
        precondition(logP.count == z.count, "KL of \(logP.count) against \(z.count) values")
        let rows = logP.count / vocab
        guard rows > 0 else { return 0 }
        var perRow = [Double](repeating: 0, count: rows)
        logP.withUnsafeBufferPointer { lp in
            perRow.withUnsafeMutableBufferPointer { out in
                let (lpp, zp, op) = (UncheckedPointer(lp.baseAddress!), UncheckedPointer(z.baseAddress!), UncheckedMutablePointer(out.baseAddress!))
                Parallel.forEach(rows) { r in
                    let l = lpp.pointer + r * vocab, zr = zp.pointer + r * vocab
                    var cross: Double = 0
                    for j in 0..<vocab where l[j] > -80 {  // exp(−80) ≈ 2e−35: below any term's weight
                        cross += Double(exp(l[j])) * Double(l[j] - zr[j])
                    }
                    // KL ≥ 0; a rounding-sized negative (identical distributions) reads as 0.
                    op.pointer[r] = max(0, cross + Double(maxAndLogSumExp(zr, vocab)))
                }
            }
        }
        return perRow.reduce(0, +)
    }

    /// max(z) + log Σ exp(z − max): logsumexp of one row, stable.
    public static func maxAndLogSumExp(_ z: UnsafePointer<Float>, _ count: Int) -> Float {
        var top = -Float.infinity
        for j in 0..<count { top = max(top, z[j]) }
        var sum: Double = 0
        for j in 0..<count { sum += Double(exp(z[j] - top)) }
        return top + Float(log(sum))
    }
}

/// Raw pointers handed to concurrent loops whose iterations touch disjoint parts.
struct UncheckedPointer: @unchecked Sendable { let pointer: UnsafePointer<Float>; init(_ p: UnsafePointer<Float>) { pointer = p } }
struct UncheckedMutablePointer<T>: @unchecked Sendable { let pointer: UnsafeMutablePointer<T>; init(_ p: UnsafeMutablePointer<T>) { pointer = p } }
