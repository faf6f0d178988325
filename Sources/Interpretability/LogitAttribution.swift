import Foundation
import LanternCore
import Models

/// One component's direct contribution to a logit difference.
public struct AttributionComponent: Sendable, Equatable {
    public enum Kind: String, Sendable { case embedding, head, mlp }
    public let kind: Kind
    /// The block (nil for the embedding).
    public let layer: Int?
    /// The head within the block (heads only).
    public let head: Int?
    /// Its share of logit(target) − logit(baseline) at the last position.
    public let value: Float

    /// "embed", "L3H1", "MLP3": the names TransformerLens's DLA plots use.
    public var name: String {
        switch kind {
        case .embedding: return "embed"
        case .head: return "L\(layer!)H\(head!)"
        case .mlp: return "MLP\(layer!)"
        }
    }
}

/// Direct logit attribution of one prompt (see `DirectLogitAttribution`).
public struct LogitAttribution: Sendable {
    public let tokens: [Int32]
    public let target: Int32
    /// The token whose logit is subtracted (nil: the target's logit alone is attributed).
    public let baseline: Int32?
    /// The embedding, then per layer each head and the MLP, in forward order.
    public let components: [AttributionComponent]
    /// logit(target) − logit(baseline) as the model outputs it (after any final softcap).
    public let logitDifference: Float
    /// The same before the final softcap: what the components sum to exactly.
    public let uncappedDifference: Float
    /// The final norm's frozen scale at the last position, 1/√(mean(x²)+ε) (LayerNorm: of x − mean x).
    public let finalScale: Float
    /// The final softcap (Gemma 2), the only source of a remainder with RMSNorm.
    public let finalSoftcap: Float?
    public let layers: Int
    public let heads: Int
    /// A LayerNorm model (GPT-2, GPT-NeoX): the final norm's bias and the attention output biases
    /// are constants no component carries, and they are the remainder.
    public var layerNorm = false

    public var componentSum: Float { components.reduce(0) { $0 + $1.value } }
    /// logitDifference − Σ components: the final softcap's share (RMSNorm has no bias, so nothing
    /// else is left over but rounding), or a LayerNorm model's biases' share.
    public var remainder: Float { logitDifference - componentSum }

    /// What the remainder is, in words, for tables and pages.
    public var remainderExplanation: String {
        if let cap = finalSoftcap {
            return "the final softcap \(cap)·tanh(z/\(cap)) acts after the sum, so the components add up to the uncapped difference; the remainder is the cap's effect"
        }
        if layerNorm {
            return "the biases no component carries: the final LayerNorm's bias read through the unembedding, and each attention layer's output bias b_O (added after the heads' sum) through the frozen final norm"
        }
        return "none but rounding: RMSNorm has no bias, so with the norms frozen the components sum to the logit difference"
    }

    /// Heads as a grid [layer][head].
    public var headGrid: [[Float]] {
        (0..<layers).map { l in components.filter { $0.kind == .head && $0.layer == l }.sorted { $0.head! < $1.head! }.map(\.value) }
    }

    /// The MLPs' contributions by layer.
    public var mlpColumn: [Float] {
        (0..<layers).map { l in components.first { $0.kind == .mlp && $0.layer == l }!.value }
    }

    public var embedding: Float { components.first { $0.kind == .embedding }!.value }

    /// The components by decreasing |value|.
    public func ranked() -> [AttributionComponent] {
        components.enumerated().sorted { abs($0.element.value) != abs($1.element.value) ? abs($0.element.value) > abs($1.element.value) : $0.offset < $1.offset }
            .map(\.element)
    }
}

/// Direct logit attribution (TransformerLens's `decompose_resid` / per-head `stack_head_results`
/// through `apply_ln_to_stack`): the final residual at the last position is the embedding plus
/// every block's attention and MLP outputs; each is read through the final norm at its frozen
/// scale (the whole residual's 1/rms, times the norm's gain) and the unembedding direction
/// W_U[target] − W_U[baseline]. Heads split the attention output: for Gemma, whose post-attention
/// norm acts on the sum of the heads, each head's share is its hook_result times gain/rms of the
/// whole branch (the norm's scale frozen at the prompt's value), so the heads sum to hook_attn_out.
/// MLPs enter as hook_mlp_out (after the post-feedforward norm: Gemma, OLMo 2). RMSNorm has no bias and no
/// centring, so the components sum to the uncapped logit difference exactly; only Gemma 2's final
/// softcap leaves a remainder. A final LayerNorm (GPT-2, GPT-NeoX) centres each component before
/// its frozen scale, 1/√(var(x_final) + ε), as TransformerLens's `apply_ln_to_stack` does; the
/// embedding is hook_embed plus GPT-2's hook_pos_embed; its bias and the attention output biases
/// (TransformerLens's per-head results leave b_O out too) are the remainder.
public enum DirectLogitAttribution {
    public static func run(_ model: Transformer, tokens: [Int32], target: Int32, baseline: Int32?) throws -> LogitAttribution {
        let c = model.config, b = model.backend
        let (layers, heads, d) = (c.layerCount, c.heads, c.hiddenSize)
        for (what, token) in [("target", target), ("baseline", baseline ?? 0)] where token < 0 || Int(token) >= c.vocabSize {
            throw LanternError.invalidArgument("\(what) token \(token) is out of range: the vocabulary has \(c.vocabSize) tokens")
        }
        guard !tokens.isEmpty else { throw LanternError.invalidArgument("no tokens to attribute") }
        let last = tokens.count - 1
        let hooks = Hooks(capture: HookFilter([HookNames.embed, HookNames.posEmbed, "blocks.*.attn.hook_result", "blocks.*.hook_mlp_out",
                                               "blocks.\(layers - 1).hook_resid_post", HookNames.finalNorm]))
        guard let logitsTensor = try model.forward(tokens, hooks: hooks, logits: .last) else {
            throw LanternError.backend("the forward pass returned no logits")
        }
        let logits = try b.read(logitsTensor)
        func lastRow(_ name: String) throws -> [Float] {
            guard let t = hooks.activation(name) else { throw LanternError.backend("the forward pass did not produce \(name)") }
            return try b.read(try t.rows(last..<(last + 1)))
        }

        // The logit direction through the frozen final norm: gain ⊙ (W_U[A] − W_U[B]) / rms(x_final).
        let rows = try b.read(try model.unembeddingRows(baseline.map { [target, $0] } ?? [target]))
        let final = try lastRow("blocks.\(layers - 1).hook_resid_post")
        let finalScale = rmsScale(final, eps: c.rmsEps, centred: c.layerNorm)
        let gain = try model.finalNormGain()
        var direction = (0..<d).map { j in gain[j] * finalScale * (rows[j] - (baseline == nil ? 0 : rows[d + j])) }
        if c.layerNorm {
            // Σ (x − mean x) · dir = Σ x · (dir − mean dir): centring the direction centres every component.
            let mean = direction.reduce(0, +) / Float(d)
            direction = direction.map { $0 - mean }
        }
        func dot(_ x: ArraySlice<Float>, _ scale: [Float]? = nil) -> Float {
            var s: Float = 0
            for (j, v) in zip(0..<d, x) { s += v * direction[j] * (scale?[j] ?? 1) }
            return s
        }

        var embedded = try lastRow(HookNames.embed)
        if c.positions == .learned { embedded = zip(embedded, try lastRow(HookNames.posEmbed)).map(+) }
        var components = [AttributionComponent(kind: .embedding, layer: nil, head: nil, value: dot(embedded[...]))]
        for l in 0..<layers {
            let result = try lastRow("blocks.\(l).attn.hook_result")   // [heads·d]
            // Gemma: the post-attention norm's scale, frozen at the value the whole branch gives it.
            var branchScale: [Float]? = nil
            if let postGain = try model.postAttentionGain(layer: l) {
                let branch = (0..<d).map { j in (0..<heads).reduce(Float(0)) { $0 + result[$1 * d + j] } }
                let s = rmsScale(branch, eps: c.rmsEps)
                branchScale = postGain.map { $0 * s }
            }
            for h in 0..<heads {
                components.append(.init(kind: .head, layer: l, head: h, value: dot(result[(h * d)..<((h + 1) * d)], branchScale)))
            }
            components.append(.init(kind: .mlp, layer: l, head: nil, value: dot(try lastRow("blocks.\(l).hook_mlp_out")[...])))
        }

        let difference = logits[Int(target)] - (baseline.map { logits[Int($0)] } ?? 0)
        // Before the softcap: the final-normed residual times the two unembedding rows.
        let normed = try lastRow(HookNames.finalNorm)
        let uncapped = (0..<d).reduce(Float(0)) { $0 + normed[$1] * (rows[$1] - (baseline == nil ? 0 : rows[d + $1])) }
        var attribution = LogitAttribution(tokens: tokens, target: target, baseline: baseline, components: components,
                                           logitDifference: difference, uncappedDifference: uncapped, finalScale: finalScale,
                                           finalSoftcap: c.finalSoftcap, layers: layers, heads: heads)
        attribution.layerNorm = c.layerNorm
        return attribution
    }

    /// 1/√(mean(x²) + ε), the scale an RMSNorm gives the row x; `centred`: 1/√(var(x) + ε), a LayerNorm's.
    static func rmsScale(_ x: [Float], eps: Float, centred: Bool = false) -> Float {
        let mean = centred ? x.reduce(0.0) { $0 + Double($1) } / Double(x.count) : 0
        var s: Double = 0
        for v in x { s += (Double(v) - mean) * (Double(v) - mean) }
        return Float(1 / (s / Double(x.count) + Double(eps)).squareRoot())
    }
}
