import Foundation
import LanternCore
import Models

/// The dark-matter figures of one token.
public struct TokenMetrics: Sendable {
    public let position: Int
    public let token: Int32
    public let l0: Int
    /// 1 − ‖x − x̂‖² / ‖x − x̄‖², x̄ the mean activation of the evaluated tokens of this text.
    public let explainedVariance: Double
    public let cosine: Double
    /// ‖x − x̂‖ / ‖x‖.
    public let relativeError: Double
    /// Cross-entropy of the next token (nil at the last position): clean, SAE spliced in, zero-ablated.
    public let ceClean: Double?
    public let ceSAE: Double?
    public let ceZero: Double?
}

/// The figures over everything evaluated, as SAELens defines them.
public struct OverallMetrics: Sendable {
    public let tokens: Int
    public let l0: Double
    /// 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² over all tokens, x̄ their mean.
    public let explainedVariance: Double
    public let cosine: Double
    public let relativeError: Double
    public let ceClean: Double
    public let ceSAE: Double
    public let ceZero: Double
    /// (CE_zero − CE_sae) / (CE_zero − CE_clean): 1 when splicing costs nothing.
    public let ceScore: Double
    /// CE_sae − CE_clean in nats: what splicing costs, without the score's flattering baseline
    /// (zero-ablating a whole residual stream costs tens of nats, so 0.99 can hide a real loss).
    public var lossIncrease: Double { ceSAE - ceClean }
    /// The loss increase as a percentage of the clean loss.
    public var lossIncreasePercent: Double { 100 * lossIncrease / ceClean }
    /// Features that never fired, and features that fired on more than `denseThreshold` of tokens.
    public let deadFeatures: Int
    public let denseFeatures: Int
    public let denseThreshold: Double
    /// How often each feature fired (fraction of tokens).
    public let featureFrequency: [Double]
}

/// Evaluates an SAE at its hook over one or more texts. BOS positions are left out by default:
/// they are neither replaced when splicing nor counted (Gemma Scope was not trained on BOS).
public final class SAEEvaluator {
    public let model: Transformer
    public let sae: SAE
    public let includeBOS: Bool
    public let denseThreshold: Double
    private var n = 0, l0Sum = 0.0, cosineSum = 0.0, relativeSum = 0.0
    private var reconstruction: ReconstructionStats
    private var ce = (clean: 0.0, sae: 0.0, zero: 0.0, count: 0)
    private var firing: [Int]

    public init(model: Transformer, sae: SAE, includeBOS: Bool = false, denseThreshold: Double = 0.1) throws {
        try sae.check(against: model.config)
        self.model = model
        self.sae = sae
        self.includeBOS = includeBOS
        self.denseThreshold = denseThreshold
        reconstruction = ReconstructionStats(width: sae.dIn)
        firing = [Int](repeating: 0, count: sae.dSAE)
    }

    /// Positions that count: all, or all but BOS tokens.
    public func evaluated(_ tokens: [Int32]) -> [Int] {
        tokens.indices.filter { includeBOS || model.config.bosToken == nil || tokens[$0] != model.config.bosToken }
    }

    /// Evaluates one text and adds it to the overall figures.
    @discardableResult
    public func evaluate(_ tokens: [Int32]) throws -> [TokenMetrics] {
        let run = try sae.run(on: model, tokens: tokens)
        let positions = evaluated(tokens)
        let (d, b) = (sae.dIn, model.backend)
        let keep = Set(positions)
        let clean = try NextTokenLoss.crossEntropies(model, tokens, hooks: nil)
        let spliced = try NextTokenLoss.crossEntropies(model, tokens, hooks: splice(keep: keep) { x in try self.sae.decode(try self.sae.encode(x)) })
        let zeroed = try NextTokenLoss.crossEntropies(model, tokens, hooks: splice(keep: keep) { x in try b.scale(x, by: 0) })

        var mean = [Double](repeating: 0, count: d)
        for p in positions { for (i, v) in run.row(run.input, p, width: d).enumerated() { mean[i] += Double(v) } }
        let meanRow = ArraySlice(mean.map { Float($0 / Double(max(positions.count, 1))) })
        var out: [TokenMetrics] = []
        for p in positions {
            let x = run.row(run.input, p, width: d), xh = run.row(run.reconstruction, p, width: d)
            let acts = run.row(run.acts, p, width: sae.dSAE)
            var l0 = 0
            for (f, a) in zip(acts.indices, acts) where a > 0 { l0 += 1; firing[f - acts.startIndex] += 1 }
            let error = SAEMath.squaredDistance(x, xh)
            let metrics = TokenMetrics(position: p, token: tokens[p], l0: l0,
                                       explainedVariance: 1 - error / max(SAEMath.squaredDistance(x, meanRow), 1e-30),
                                       cosine: SAEMath.cosine(x, xh), relativeError: SAEMath.relativeError(x, xh),
                                       ceClean: clean[p], ceSAE: spliced[p], ceZero: zeroed[p])
            out.append(metrics)
            n += 1; l0Sum += Double(l0); cosineSum += metrics.cosine; relativeSum += metrics.relativeError
            reconstruction.add(x, xh)
            if let c = clean[p], let s = spliced[p], let z = zeroed[p] {
                ce.clean += c; ce.sae += s; ce.zero += z; ce.count += 1
            }
        }
        return out
    }

    /// An intervention replacing the hook's rows at `keep` by `replace(x)`'s, leaving the others.
    func splice(keep: Set<Int>, _ replace: @escaping (Tensor) throws -> Tensor) -> Hooks {
        let hooks = Hooks()
        hooks.intervene(sae.hookName) { x, ctx in try ctx.splice(x, try replace(x), at: keep) }
        return hooks
    }

    public var overall: OverallMetrics {
        let count = Double(max(n, 1))
        let ceCount = Double(max(ce.count, 1))
        let (c, s, z) = (ce.clean / ceCount, ce.sae / ceCount, ce.zero / ceCount)
        let frequency = firing.map { Double($0) / count }
        return OverallMetrics(tokens: n, l0: l0Sum / count, explainedVariance: reconstruction.explainedVariance,
                              cosine: cosineSum / count, relativeError: relativeSum / count,
                              ceClean: c, ceSAE: s, ceZero: z, ceScore: (z - s) / (z - c),
                              deadFeatures: firing.filter { $0 == 0 }.count,
                              denseFeatures: frequency.filter { $0 > denseThreshold }.count,
                              denseThreshold: denseThreshold, featureFrequency: frequency)
    }
}

/// The next-token loss of a forward pass, position by position.
public enum NextTokenLoss {
    /// −log p(tokens[p+1]) at every position p (nil at the last), with `hooks` on the pass.
    /// The logits are never held whole: the final-normed rows go through the unembedding one
    /// slice of `vocabularySlice` entries at a time, each slice reduced where it lies
    /// (`Backend.logitSummaries`: on a GPU only a max, a sum and the target's logit per row come
    /// back) and folded into every row's running logsumexp.
    public static func crossEntropies(_ model: Transformer, _ tokens: [Int32], hooks: Hooks?,
                                      vocabularySlice: Int = 32_768) throws -> [Double?] {
        guard let normedAll = try model.forward(tokens, hooks: hooks, logits: .finalNormed) else { return [] }
        var out = [Double?](repeating: nil, count: tokens.count)
        let rows = tokens.count - 1
        guard rows > 0 else { return out }
        // A slice of rows × slice logits must fit in one of the backend's buffers too.
        let vocab = model.config.vocabSize, slice = max(1, min(vocabularySlice, model.backend.largestTensorBytes / 4 / rows))
        let normed = try normedAll.rows(0..<rows)
        var top = [Float](repeating: -.infinity, count: rows), sums = [Double](repeating: 0, count: rows)
        var targets = [Float](repeating: 0, count: rows)
        for start in stride(from: 0, to: vocab, by: slice) {
            let end = min(vocab, start + slice)
            let inSlice = (0..<rows).map { (start..<end).contains(Int(tokens[$0 + 1])) }
            // A row whose target lies in another slice asks for the slice's first entry, unread.
            let asked = (0..<rows).map { inSlice[$0] ? tokens[$0 + 1] - Int32(start) : 0 }
            let summaries = try model.backend.logitSummaries(try model.unembed(normed, vocabulary: start..<end), topK: 0, rowTokens: asked)
            for (r, summary) in summaries.enumerated() {
                let s = summary.statistics, (m, total) = (top[r], sums[r])
                if s.max > m {
                    sums[r] = total * exp(Double(m) - Double(s.max)) + s.sumExp
                    top[r] = s.max
                } else {
                    sums[r] = total + s.sumExp * exp(Double(s.max) - Double(m))
                }
                if inSlice[r] { targets[r] = summary.tokens[0].logit }
            }
        }
        for r in 0..<rows { out[r] = Double(top[r]) + log(sums[r]) - Double(targets[r]) }
        return out
    }

    /// The plain reference: full logits, double-precision logsumexp per row.
    public static func referenceCrossEntropies(_ model: Transformer, _ tokens: [Int32], hooks: Hooks?) throws -> [Double?] {
        guard let logits = try model.forward(tokens, hooks: hooks, logits: .all) else { return [] }
        let vocab = model.config.vocabSize, values = try model.backend.read(logits)
        var out = [Double?](repeating: nil, count: tokens.count)
        for p in 0..<max(0, tokens.count - 1) {
            let row = values[(p * vocab)..<((p + 1) * vocab)]
            let top = Double(row.max() ?? 0)
            let logSum = log(row.reduce(0.0) { $0 + exp(Double($1) - top) }) + top
            out[p] = logSum - Double(row[row.startIndex + Int(tokens[p + 1])])
        }
        return out
    }
}

extension HookContext {
    /// `replacement` at the positions in `keep`, `original` elsewhere (BOS rows keep their own
    /// activation when an SAE or transcoder is spliced in).
    public func splice(_ original: Tensor, _ replacement: Tensor, at keep: Set<Int>) throws -> Tensor {
        for (row, position) in positions.enumerated() where !keep.contains(position) {
            try backend.copyRows(try original.rows(row..<(row + 1)), into: replacement, at: row)
        }
        return replacement
    }
}
