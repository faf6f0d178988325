import Foundation
import LanternCore
import Models

/// A transcoder's weights on the host, in the layout Gemma Scope 2 stores (and SAELens loads):
/// W_enc [d_in, d_sae], W_dec [d_sae, d_out], b_enc [d_sae], b_dec [d_out], threshold [d_sae]
/// (JumpReLU only) and the optional affine skip W_skip [d_in, d_out], applied as x · W_skip.
public struct TranscoderWeights: Sendable {
    public var wEnc: [Float]
    public var wDec: [Float]
    public var bEnc: [Float]
    public var bDec: [Float]
    public var threshold: [Float]?
    public var skip: [Float]?

    public init(wEnc: [Float], wDec: [Float], bEnc: [Float], bDec: [Float], threshold: [Float]?, skip: [Float]? = nil) {
        self.wEnc = wEnc
        self.wDec = wDec
        self.bEnc = bEnc
        self.bDec = bDec
        self.threshold = threshold
        self.skip = skip
    }
}

/// What a transcoder is, apart from its weights: sizes, activation, the hook it reads and the
/// hook whose activations it reconstructs (for an MLP transcoder, `ln2.hook_normalized` →
/// `hook_mlp_out` of the same block).
public struct TranscoderConfig: Sendable, Equatable {
    public var dIn: Int
    public var dSAE: Int
    public var dOut: Int
    public var activation: SAEActivation
    public var inputHook: String
    public var outputHook: String

    public init(dIn: Int, dSAE: Int, dOut: Int, activation: SAEActivation, inputHook: String, outputHook: String) {
        self.dIn = dIn
        self.dSAE = dSAE
        self.dOut = dOut
        self.activation = activation
        self.inputHook = inputHook
        self.outputHook = outputHook
    }

    /// The block both hooks belong to, when they name one.
    public var layer: Int? { SAE.layerInHook(inputHook) }
}

/// A transcoder on a backend: features read `inputHook` and write a reconstruction of
/// `outputHook`. Encoding is SAE encoding (`saeEncode`, no b_dec subtraction: b_dec lives in the
/// output space); decoding is `saeDecode`; the affine skip is one more `matmul`.
///     acts = σ(x · W_enc + b_enc),   output ≈ acts · W_dec + b_dec + x · W_skip
public final class Transcoder: @unchecked Sendable {
    public let config: TranscoderConfig
    public let backend: any Backend
    /// Where it was loaded from (a path, or a description).
    public let source: String
    let encoder: Tensor       // W_encᵀ [d_sae, d_in]
    let decoder: Tensor       // W_decᵀ [d_out, d_sae]
    let decoderRows: Tensor   // W_dec [d_sae, d_out]: feature output directions
    let encoderBias: Tensor
    let decoderBias: Tensor
    let threshold: Tensor?
    let skipWeight: Tensor?   // W_skipᵀ [d_out, d_in]: matmul computes x · W_skip

    public var dIn: Int { config.dIn }
    public var dSAE: Int { config.dSAE }
    public var dOut: Int { config.dOut }
    public var hasSkip: Bool { skipWeight != nil }

    /// What every transcoder is held to before a backend holds it: each tensor its shape's
    /// length and finite, a threshold for JumpReLU, TopK's k within the width.
    public static func check(_ c: TranscoderConfig, _ w: TranscoderWeights, source: String) throws {
        try SAE.validate(source, [("w_enc", w.wEnc, [c.dIn, c.dSAE]), ("w_dec", w.wDec, [c.dSAE, c.dOut]), ("b_enc", w.bEnc, [c.dSAE]),
                                   ("b_dec", w.bDec, [c.dOut]), ("threshold", w.threshold, [c.dSAE]),
                                   ("affine_skip_connection", w.skip, [c.dIn, c.dOut])])
        if c.activation == .jumpReLU && w.threshold == nil {
            throw LanternError.badFile(path: source, field: "threshold", problem: "missing (a JumpReLU transcoder needs it)")
        }
        if case let .topK(k) = c.activation, k < 1 || k > c.dSAE {
            throw LanternError.badFile(path: source, field: "k", problem: "TopK needs 1 ≤ k ≤ d_sae (\(c.dSAE)), got \(k)")
        }
    }

    public init(config c: TranscoderConfig, weights w: TranscoderWeights, backend: any Backend, source: String = "transcoder") throws {
        try Self.check(c, w, source: source)
        config = c
        self.backend = backend
        self.source = source
        encoder = try backend.weight(SAE.transpose(w.wEnc, rows: c.dIn, cols: c.dSAE), shape: [c.dSAE, c.dIn], name: "W_enc")
        decoder = try backend.weight(SAE.transpose(w.wDec, rows: c.dSAE, cols: c.dOut), shape: [c.dOut, c.dSAE], name: "W_dec")
        decoderRows = try backend.weight(w.wDec, shape: [c.dSAE, c.dOut], name: "W_dec")
        encoderBias = try backend.tensor(w.bEnc, shape: [c.dSAE])
        decoderBias = try backend.tensor(w.bDec, shape: [c.dOut])
        threshold = c.activation == .jumpReLU ? try w.threshold.map { try backend.tensor($0, shape: [c.dSAE]) } : nil
        skipWeight = try w.skip.map { try backend.weight(SAE.transpose($0, rows: c.dIn, cols: c.dOut), shape: [c.dOut, c.dIn], name: "W_skip") }
    }

    /// Feature activations [n, d_sae] of input activations x [n, d_in].
    public func encode(_ x: Tensor) throws -> Tensor {
        guard x.width == dIn else {
            throw LanternError.shapeMismatch(op: "transcoder encode", detail: "activation width \(x.width) ≠ the transcoder's d_in \(dIn)")
        }
        return try backend.saeEncode(x, encoder: encoder, bias: encoderBias, threshold: threshold, activation: config.activation)
    }

    /// Feature activations [n, d_sae] brought to the host without their zeros.
    public func activeLatents(_ acts: Tensor) throws -> SparseRows {
        try backend.positiveEntries(acts, expected: config.activation.typicalActive(of: dSAE))
    }

    /// acts · W_dec + b_dec [n, d_out]: the features' part of the output, without the skip.
    public func decode(_ acts: Tensor) throws -> Tensor {
        try backend.saeDecode(acts, decoder: decoder, rows: decoderRows, bias: decoderBias)
    }

    /// x · W_skip [n, d_out], or nil for a transcoder without an affine skip.
    public func skip(_ x: Tensor) throws -> Tensor? {
        guard let skipWeight else { return nil }
        guard x.width == dIn else {
            throw LanternError.shapeMismatch(op: "transcoder skip", detail: "activation width \(x.width) ≠ the transcoder's d_in \(dIn)")
        }
        return try backend.matmul(x, skipWeight)
    }

    /// The features and the full reconstruction of the output hook: decode(encode(x)) + skip(x).
    public func reconstruct(_ x: Tensor) throws -> (acts: Tensor, output: Tensor) {
        let acts = try encode(x)
        let decoded = try decode(acts)
        guard let skipped = try skip(x) else { return (acts, decoded) }
        return (acts, try backend.add(decoded, skipped))
    }

    /// Feature f's output direction W_dec[f] [d_out].
    public func direction(_ feature: Int) throws -> [Float] {
        guard feature >= 0, feature < dSAE else {
            throw LanternError.invalidArgument("feature \(feature) is out of range: the transcoder has \(dSAE) features (0..<\(dSAE))")
        }
        return try backend.read(try decoderRows.rows(feature..<(feature + 1)))
    }

    /// The weights back on the host, in the stored layout (for writing the transcoder out again).
    public func weights() throws -> TranscoderWeights {
        TranscoderWeights(wEnc: SAE.transpose(try backend.read(encoder), rows: dSAE, cols: dIn),
                          wDec: try backend.read(decoderRows), bEnc: try backend.read(encoderBias),
                          bDec: try backend.read(decoderBias), threshold: try threshold.map { try backend.read($0) },
                          skip: try skipWeight.map { SAE.transpose(try backend.read($0), rows: dOut, cols: dIn) })
    }

    /// Refuses a transcoder that does not fit `model`: a hook it lacks, or a width that differs.
    public func check(against model: ModelConfig) throws {
        for (field, hook, width) in [("input hook", config.inputHook, dIn), ("output hook", config.outputHook, dOut)] {
            guard let actual = HookWidths.width(of: hook, in: model) else {
                throw LanternError.invalidArgument("\(source): \(field): the model has no hook '\(hook)' (it has \(model.layerCount) layers; see `lantern trace --list-hooks`)")
            }
            guard actual == width else {
                throw LanternError.invalidArgument("\(source): \(field): the transcoder has width \(width) there but \(hook) is \(actual) wide")
            }
        }
    }
}
