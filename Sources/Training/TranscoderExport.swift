import Foundation

/// A trained transcoder's parameters with its normalisation folded in, in the layout Gemma Scope 2
/// stores (and `Transcoder` reads): for raw activations x,
///
///     acts = σ(x · W_enc + b_enc)                  W_enc [d_in, d_sae]
///     ŷ    = acts · W_dec + b_dec + x · W_skip     W_dec [d_sae, d_out], W_skip [d_in, d_out]
public struct FoldedTranscoder: Sendable, Equatable {
    public var wEnc: [Float]
    public var bEnc: [Float]
    public var wDec: [Float]
    public var bDec: [Float]
    /// JumpReLU thresholds (nil for TopK and ReLU).
    public var threshold: [Float]?
    /// The affine skip connection (nil when there is none).
    public var skip: [Float]?

    /// Undoes the training space: x' = c·(x − μ) ⊙ u in, y = ŷ' / t out. With
    /// pre_j = Σ_i x'_i E[j,i] + b_j and ŷ'_o = Σ_j a_j D[j,o] + b_dec_o + Σ_i x'_i S[o,i]:
    ///     W_enc[i,j] = c·u_i·E[j,i],  b_enc_j = b_j − Σ_i c·μ_i·u_i·E[j,i],
    ///     W_dec = D / t,  W_skip[i,o] = c·u_i·S[o,i] / t,  b_dec_o = (b_dec_o − Σ_i c·μ_i·u_i·S[o,i]) / t.
    public init(_ p: SAEParameters) {
        let d = p.inputWidth, s = p.width, c = Double(p.inputScale), t = Double(p.targetScale)
        let u = p.dimensionScale.isEmpty ? [Float](repeating: 1, count: d) : p.dimensionScale
        let mu = p.inputShift.isEmpty ? [Float](repeating: 0, count: d) : p.inputShift
        // Per input dimension: the factor on x_i and the constant its shift leaves.
        let factor = (0..<d).map { c * Double(u[$0]) }
        let offset = (0..<d).map { factor[$0] * Double(mu[$0]) }
        var wEnc = [Float](repeating: 0, count: d * s), bEnc = [Float](repeating: 0, count: s)
        for j in 0..<s {
            var shift = 0.0
            for i in 0..<d {
                let e = Double(p.encoder[j * d + i])
                wEnc[i * s + j] = Float(factor[i] * e)
                shift += offset[i] * e
            }
            bEnc[j] = Float(Double(p.encoderBias[j]) - shift)
        }
        self.wEnc = wEnc
        self.bEnc = bEnc
        wDec = p.decoder.map { Float(Double($0) / t) }
        threshold = p.logThreshold.isEmpty ? nil : p.logThreshold.map { exp($0) }
        if p.skip.isEmpty {
            skip = nil
            bDec = p.decoderBias.map { Float(Double($0) / t) }
        } else {
            var w = [Float](repeating: 0, count: d * d), b = [Float](repeating: 0, count: d)
            for o in 0..<d {
                var shift = 0.0
                for i in 0..<d {
                    let v = Double(p.skip[o * d + i])
                    w[i * d + o] = Float(factor[i] * v / t)
                    shift += offset[i] * v
                }
                b[o] = Float((Double(p.decoderBias[o]) - shift) / t)
            }
            skip = w
            bDec = b
        }
    }
}
