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

/// The logit lens of one prompt: `cells[row][position]`, rows being hook_embed (= layer 0's
/// resid_pre) then every layer's resid_post.
public struct LensResult: Sendable {
    public let tokens: [Int32]
    /// The residual each row reads ("hook_embed", "blocks.0.hook_resid_post", ...).
    public let hookNames: [String]
    /// Short row labels: "embed", "0", "1", ...
    public let rowLabels: [String]
    public let cells: [[LensCell]]
    public let target: Int32?
}

/// The logit lens (nostalgebraist 2020): read each layer's residual stream through the model's
/// own final norm and unembedding (and Gemma 2's final softcap), as if the model stopped there.
public enum LogitLens {
    /// hook_embed, then blocks.{l}.hook_resid_post for every layer.
    public static func residualHooks(layers: Int) -> [String] {
        [HookNames.embed] + (0..<layers).map { "blocks.\($0).hook_resid_post" }
    }

    /// Lens logits [n, vocab] of a residual [n, hidden]: exactly the model's own head.
    public static func logits(_ model: Transformer, residual: Tensor) throws -> Tensor {
        try model.unembed(try model.finalNormed(residual))
    }

    /// Runs `tokens` once, capturing the residuals, and reads each through the lens.
    public static func run(_ model: Transformer, tokens: [Int32], topK: Int = 5, target: Int32? = nil) throws -> LensResult {
        let vocab = model.config.vocabSize
        if let target, target < 0 || Int(target) >= vocab {
            throw LanternError.invalidArgument("target token \(target) is out of range: the vocabulary has \(vocab) tokens")
        }
        let names = residualHooks(layers: model.config.layerCount)
        let hooks = Hooks(capture: HookFilter(names))
        try model.forward(tokens, hooks: hooks, logits: .none)
        var rows: [[LensCell]] = []
        for name in names {
            guard let residual = hooks.activation(name) else {
                throw LanternError.backend("the forward pass did not produce \(name)")
            }
            let logits = try model.backend.read(try logits(model, residual: residual))
            rows.append((0..<tokens.count).map { p in
                cell(Array(logits[(p * vocab)..<((p + 1) * vocab)]), topK: topK, target: target)
            })
        }
        return LensResult(tokens: tokens, hookNames: names, rowLabels: ["embed"] + (0..<model.config.layerCount).map(String.init),
                          cells: rows, target: target)
    }

    /// Softmax statistics of one row of logits.
    public static func cell(_ logits: [Float], topK: Int, target: Int32?) -> LensCell {
        let probs = softmax(logits)
        var entropy: Double = 0
        for p in probs where p > 0 { entropy -= Double(p) * log(Double(p)) }
        let order = Ranking.largest(topK, of: probs)
        let top = order.map { TokenProbability(token: Int32($0), probability: probs[$0]) }
        var rank: Int?
        if let target {
            let t = Int(target)
            // Rank 1 is the best; ties go to the lower id, as the top-k list orders them.
            rank = 1 + probs.indices.filter { probs[$0] > probs[t] || (probs[$0] == probs[t] && $0 < t) }.count
        }
        return LensCell(top: top, entropy: Float(entropy), targetRank: rank, targetProbability: target.map { probs[Int($0)] })
    }

    public static func softmax(_ logits: [Float]) -> [Float] {
        let top = logits.max() ?? 0
        let e = logits.map { Double(exp($0 - top)) }
        let total = e.reduce(0, +)
        return e.map { Float($0 / total) }
    }

}
