import Foundation
import LanternCore
import Models

/// An SAE's weights on the host, in the layout both Gemma Scope and SAELens store:
/// W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc [d_sae], b_dec [d_in], threshold [d_sae].
public struct SAEWeights: Sendable {
    public var wEnc: [Float]
    public var wDec: [Float]
    public var bEnc: [Float]
    public var bDec: [Float]
    public var threshold: [Float]?

    public init(wEnc: [Float], wDec: [Float], bEnc: [Float], bDec: [Float], threshold: [Float]?) {
        self.wEnc = wEnc
        self.wDec = wDec
        self.bEnc = bEnc
        self.bDec = bDec
        self.threshold = threshold
    }
}

/// What an SAE is, apart from its weights: sizes, activation, where it reads.
public struct SAEConfig: Sendable, Equatable {
    public var dIn: Int
    public var dSAE: Int
    public var activation: SAEActivation
    /// SAELens: subtract b_dec from the input before encoding (Gemma Scope: false).
    public var applyBDecToInput: Bool
    /// The hook the SAE reads and (when spliced) writes, e.g. blocks.20.hook_resid_post.
    public var hookName: String
    public var layer: Int?
    /// Trained on TransformerLens's residual stream of a LayerNorm model with its writing weights
    /// centred (`center_writing_weights`, as SAELens's `model_from_pretrained_kwargs` says, e.g.
    /// for GPT-2 small's `gpt2-small-res-jb`): there every write to the residual stream has zero
    /// mean, so the stream is transformers' with each position's mean removed. Lantern runs the
    /// uncentred model (every activation equal to transformers'), so `encode` removes each row's
    /// mean first, and the reconstruction is of the centred activation. In a LayerNorm model that
    /// mean is invisible downstream (every read of the stream goes through a LayerNorm, which
    /// removes it), so splicing the reconstruction in is what splicing it in TransformerLens is.
    public var centersInput = false

    public init(dIn: Int, dSAE: Int, activation: SAEActivation, applyBDecToInput: Bool, hookName: String, layer: Int?) {
        self.dIn = dIn
        self.dSAE = dSAE
        self.activation = activation
        self.applyBDecToInput = applyBDecToInput
        self.hookName = hookName
        self.layer = layer
    }

    /// The hook points whose activations are sums of residual-stream writes (what TransformerLens's
    /// `center_writing_weights` centres): the embeddings, resid_pre/mid/post, attn_out, mlp_out.
    public static func isWrittenStream(_ hook: String) -> Bool {
        ["hook_embed", "hook_pos_embed", "hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_out"]
            .contains { hook == $0 || hook.hasSuffix("." + $0) }
    }
}

/// A sparse autoencoder on a backend. Encoding and decoding run there (`saeEncode`, `saeDecode`);
/// the transposed weight copies the backend's x·wᵀ matmul wants are made once, here.
public final class SAE: @unchecked Sendable {
    public let config: SAEConfig
    public let backend: any Backend
    /// Where it was loaded from (a path, or a description).
    public let source: String
    let encoder: Tensor       // W_encᵀ [d_sae, d_in]
    let decoder: Tensor       // W_decᵀ [d_in, d_sae]
    let decoderRows: Tensor   // W_dec [d_sae, d_in]: feature directions
    let encoderBias: Tensor
    let decoderBias: Tensor
    let negatedDecoderBias: Tensor
    let threshold: Tensor?
    /// I − 11ᵀ/d_in (its own transpose), when the SAE reads centred activations: x · C removes each
    /// row's mean with the backend's own product.
    let centring: Tensor?

    public var dIn: Int { config.dIn }
    public var dSAE: Int { config.dSAE }
    public var hookName: String { config.hookName }

    public init(config c: SAEConfig, weights w: SAEWeights, backend: any Backend, source: String = "SAE") throws {
        try Self.check(c, w, source: source)
        config = c
        self.backend = backend
        self.source = source
        encoder = try backend.weight(Self.transpose(w.wEnc, rows: c.dIn, cols: c.dSAE), shape: [c.dSAE, c.dIn], name: "W_enc")
        decoder = try backend.weight(Self.transpose(w.wDec, rows: c.dSAE, cols: c.dIn), shape: [c.dIn, c.dSAE], name: "W_dec")
        decoderRows = try backend.weight(w.wDec, shape: [c.dSAE, c.dIn], name: "W_dec")
        encoderBias = try backend.tensor(w.bEnc, shape: [c.dSAE])
        decoderBias = try backend.tensor(w.bDec, shape: [c.dIn])
        negatedDecoderBias = try backend.tensor(w.bDec.map { -$0 }, shape: [c.dIn])
        threshold = c.activation == .jumpReLU ? try w.threshold.map { try backend.tensor($0, shape: [c.dSAE]) } : nil
        centring = c.centersInput ? try backend.weight((0..<(c.dIn * c.dIn)).map { i in (i / c.dIn == i % c.dIn ? 1 : 0) - 1 / Float(c.dIn) },
                                                       shape: [c.dIn, c.dIn], name: "centring") : nil
    }

    /// Refuses host arrays of the wrong size or with non-finite values, naming the tensor (SAEs,
    /// transcoders and the files they are written to share it).
    /// What every loader's SAE is held to, whatever the format: no empty SAE, no k past the
    /// width, every tensor its shape's length and finite.
    public static func check(_ c: SAEConfig, _ w: SAEWeights, source: String) throws {
        // Every loader ends here, so every format gets these: no empty SAE, no k past the width.
        guard c.dIn > 0 else { throw LanternError.badFile(path: source, field: "d_in", problem: "\(c.dIn) (expected a positive width)") }
        guard c.dSAE > 0 else { throw LanternError.badFile(path: source, field: "d_sae", problem: "\(c.dSAE) (expected a positive number of features)") }
        if case let .topK(k) = c.activation, !(1...c.dSAE).contains(k) {
            throw LanternError.badFile(path: source, field: "k", problem: "\(k) is outside 1...\(c.dSAE) (d_sae)")
        }
        try validate(source, [("W_enc", w.wEnc, [c.dIn, c.dSAE]), ("W_dec", w.wDec, [c.dSAE, c.dIn]), ("b_enc", w.bEnc, [c.dSAE]),
                                   ("b_dec", w.bDec, [c.dIn]), ("threshold", w.threshold, [c.dSAE])])
        if c.activation == .jumpReLU && w.threshold == nil {
            throw LanternError.badFile(path: source, field: "threshold", problem: "missing (a JumpReLU SAE needs it)")
        }
    }

    static func validate(_ source: String, _ tensors: [(String, [Float]?, [Int])]) throws {
        for (name, values, shape) in tensors {
            guard let values else { continue }
            guard values.count == shape.reduce(1, *) else {
                throw LanternError.badFile(path: source, field: name, problem: "has \(values.count) values, expected shape \(shape)")
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw LanternError.badFile(path: source, field: name, problem: "contains \(values[bad]) at flat index \(bad)")
            }
        }
    }

    static func transpose(_ m: [Float], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: m.count)
        m.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows { for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] } }
            }
        }
        return out
    }

    /// Feature activations [n, d_sae] of activations x [n, d_in].
    public func encode(_ x: Tensor) throws -> Tensor {
        guard x.width == dIn else {
            throw LanternError.shapeMismatch(op: "SAE encode", detail: "activation width \(x.width) ≠ the SAE's d_in \(dIn)")
        }
        let centred = try centring.map { try backend.matmul(x, $0) } ?? x
        let input = config.applyBDecToInput ? try backend.add(centred, negatedDecoderBias) : centred
        return try backend.saeEncode(input, encoder: encoder, bias: encoderBias, threshold: threshold, activation: config.activation)
    }

    /// Feature activations [n, d_sae] brought to the host without their zeros.
    public func activeLatents(_ acts: Tensor) throws -> SparseRows {
        try backend.positiveEntries(acts, expected: config.activation.typicalActive(of: dSAE))
    }

    /// Reconstructions [n, d_in] of feature activations [n, d_sae].
    public func decode(_ acts: Tensor) throws -> Tensor {
        try backend.saeDecode(acts, decoder: decoder, rows: decoderRows, bias: decoderBias)
    }

    /// Feature f's decoder direction W_dec[f] [d_in].
    public func direction(_ feature: Int) throws -> [Float] {
        guard feature >= 0, feature < dSAE else {
            throw LanternError.invalidArgument("feature \(feature) is out of range: the SAE has \(dSAE) features (0..<\(dSAE))")
        }
        return try backend.read(try decoderRows.rows(feature..<(feature + 1)))
    }

    /// Refuses an SAE that does not fit `model`: a hook it lacks, or a width other than d_in.
    public func check(against model: ModelConfig) throws {
        guard let width = HookWidths.width(of: hookName, in: model) else {
            let hint = HookNames.closest(to: hookName, in: model).map { "did you mean \($0)? " } ?? ""
            throw LanternError.invalidArgument("\(source): hook_name: the model has no hook '\(hookName)' (it has \(model.layerCount) layers; \(hint)see `lantern trace --list-hooks`)")
        }
        guard width == dIn else {
            throw LanternError.invalidArgument("\(source): d_in: the SAE reads \(dIn)-wide activations but \(hookName) is \(width) wide")
        }
        // TransformerLens centres writing weights only where a LayerNorm removes the mean anyway.
        if config.centersInput && !model.layerNorm {
            throw LanternError.invalidArgument("\(source): center_writing_weights: the SAE reads TransformerLens's centred residual stream, which only LayerNorm models have (this is \(model.family.rawValue))")
        }
    }
}

/// The width of each hook point's activation rows.
public enum HookWidths {
    public static func width(of hook: String, in c: ModelConfig) -> Int? {
        guard HookNames.all(c).contains(hook) else { return nil }
        let suffixes: [(String, Int)] = [
            ("attn.hook_q", c.heads * c.headDim), ("attn.hook_q_normed", c.heads * c.headDim), ("attn.hook_rot_q", c.heads * c.headDim),
            ("attn.hook_z", c.heads * c.headDim),
            ("attn.hook_result", c.heads * c.hiddenSize),
            ("attn.hook_k", c.kvHeads * c.headDim), ("attn.hook_k_normed", c.kvHeads * c.headDim), ("attn.hook_rot_k", c.kvHeads * c.headDim),
            ("attn.hook_v", c.kvHeads * c.headDim),
            ("mlp.hook_pre", c.intermediateSize), ("mlp.hook_pre_linear", c.intermediateSize), ("mlp.hook_post", c.intermediateSize),
        ]
        if HookNames.isAttentionMap(hook) { return nil }
        if hook.hasSuffix(".hook_scale") { return 1 }
        return suffixes.first { hook.hasSuffix($0.0) }?.1 ?? c.hiddenSize
    }
}
