import Foundation
import Models

/// The trainable parameters of a sparse autoencoder, on the host, in the layout the Backend's
/// matmul wants: one row per latent for both the encoder and the decoder.
///
///     pre  = (x − b_dec) · encoderᵀ + b_enc          encoder [d_sae, d_in] = SAELens W_encᵀ
///     x̂    = acts · decoder + b_dec                  decoder [d_sae, d_in] = SAELens W_dec
///
/// The model's activations x reach these parameters as x' = inputScale · (x − inputShift) ⊙
/// dimensionScale (the shift and per-dimension scale empty unless the run normalises per
/// dimension), so that E‖x'‖² = 1; export folds all of it back in.
///
/// A transcoder reads one activation and predicts another (an MLP's input and output): it does
/// not centre its input on b_dec (the spaces differ), its target y' = targetScale · (y −
/// targetShift) ⊙ targetDimensionScale is normalised on its own (per dimension when the input is:
/// an MLP's output in Gemma has a few dimensions carrying most of its variance), and it may add
/// an affine skip connection,
///
///     ŷ'   = acts · decoder + b_dec + x' · skipᵀ     skip [d_out, d_in], empty when there is none.
public struct SAEParameters: Sendable, Equatable {
    public let inputWidth: Int
    public let width: Int
    public var encoder: [Float]
    public var encoderBias: [Float]
    public var decoder: [Float]
    public var decoderBias: [Float]
    /// JumpReLU: log θ per latent (θ = exp, so it stays positive); empty for other architectures.
    public var logThreshold: [Float]
    public var inputScale: Float
    /// Per-dimension normalisation (empty when there is none): μ and 1/σ.
    public var inputShift: [Float] = []
    public var dimensionScale: [Float] = []
    /// SAE: the input is centred on b_dec before encoding; transcoder: not.
    public var centersInput = true
    /// Transcoder: the scale of the target (1 for an SAE, whose target is its input x').
    public var targetScale: Float = 1
    /// Transcoder, per-dimension normalisation: the target's μ and 1/σ^power (empty otherwise).
    public var targetShift: [Float] = []
    public var targetDimensionScale: [Float] = []
    /// Transcoder: the affine skip connection [d_out, d_in] (empty: none).
    public var skip: [Float] = []

    public init(inputWidth: Int, width: Int, encoder: [Float], encoderBias: [Float], decoder: [Float],
                decoderBias: [Float], logThreshold: [Float], inputScale: Float,
                inputShift: [Float] = [], dimensionScale: [Float] = []) {
        self.inputWidth = inputWidth
        self.width = width
        self.encoder = encoder
        self.encoderBias = encoderBias
        self.decoder = decoder
        self.decoderBias = decoderBias
        self.logThreshold = logThreshold
        self.inputScale = inputScale
        self.inputShift = inputShift
        self.dimensionScale = dimensionScale
    }

    /// x' = inputScale · (x − inputShift) ⊙ dimensionScale for rows of x (the training space).
    public func normalized(_ x: [Float]) -> [Float] {
        Self.affine(x, scale: inputScale, shift: inputShift, dimensionScale: dimensionScale, width: inputWidth)
    }

    /// y' = targetScale · (y − targetShift) ⊙ targetDimensionScale: a transcoder's target in the
    /// training space.
    public func normalizedTarget(_ y: [Float]) -> [Float] {
        Self.affine(y, scale: targetScale, shift: targetShift, dimensionScale: targetDimensionScale, width: inputWidth)
    }

    /// c · (x − μ) ⊙ u for rows of x, or just c · x when there is no per-dimension part.
    static func affine(_ x: [Float], scale c: Float, shift: [Float], dimensionScale u: [Float], width d: Int) -> [Float] {
        guard !u.isEmpty else { return x.map { $0 * c } }
        var out = x
        for r in 0..<(x.count / d) {
            for j in 0..<d { out[r * d + j] = c * (x[r * d + j] - shift[j]) * u[j] }
        }
        return out
    }

    /// Random unit-norm decoder rows, the encoder tied to them (W_enc = W_decᵀ, as both papers
    /// initialise), zero encoder bias, and the given decoder bias.
    public static func initial(inputWidth d: Int, width s: Int, architecture: SAEArchitecture,
                               initialThreshold: Float, decoderBias: [Float], inputScale: Float,
                               random: inout SeededGenerator) -> SAEParameters {
        var decoder = (0..<(s * d)).map { _ in random.normal() }
        normalizeRows(&decoder, width: d)
        return SAEParameters(inputWidth: d, width: s, encoder: decoder, encoderBias: [Float](repeating: 0, count: s),
                             decoder: decoder, decoderBias: decoderBias,
                             logThreshold: architecture == .jumprelu ? [Float](repeating: log(initialThreshold), count: s) : [],
                             inputScale: inputScale)
    }

    /// Scales each row of a [rows, width] matrix to unit L2 norm (zero rows stay zero).
    public static func normalizeRows(_ m: inout [Float], width: Int) {
        for r in 0..<(m.count / width) {
            var sum: Float = 0
            for j in 0..<width { sum += m[r * width + j] * m[r * width + j] }
            guard sum > 0 else { continue }
            let inv = 1 / sum.squareRoot()
            for j in 0..<width { m[r * width + j] *= inv }
        }
    }

    /// The named tensors, in a fixed order (checkpoints and Adam state use it).
    public var tensors: [(name: String, values: [Float])] {
        var all: [(String, [Float])] = [("encoder", encoder), ("encoder_bias", encoderBias), ("decoder", decoder),
                                        ("decoder_bias", decoderBias)]
        if !logThreshold.isEmpty { all.append(("log_threshold", logThreshold)) }
        if !skip.isEmpty { all.append(("skip", skip)) }
        return all
    }
}

/// Gradients of the loss with respect to each parameter, same layout.
public struct SAEGradients: Sendable {
    public var encoder: [Float]
    public var encoderBias: [Float]
    public var decoder: [Float]
    public var decoderBias: [Float]
    public var logThreshold: [Float]
    /// Empty unless the parameters have a skip connection.
    public var skip: [Float] = []
}
