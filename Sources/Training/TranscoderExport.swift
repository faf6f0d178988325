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

    /// Undoes the training space: x' = c·(x − μ) ⊙ u in, y = ŷ' / (t·v) + ν out (v, ν the
    /// target's per-dimension scale and shift; 1 and 0 without). With pre_j = Σ_i x'_i E[j,i] + b_j
    /// and ŷ'_o = Σ_j a_j D[j,o] + b_dec_o + Σ_i x'_i S[o,i], and w_o = 1 / (t·v_o):
    ///     W_enc[i,j] = c·u_i·E[j,i],  b_enc_j = b_j − Σ_i c·μ_i·u_i·E[j,i],
    ///     W_dec[j,o] = D[j,o]·w_o,  W_skip[i,o] = c·u_i·S[o,i]·w_o,
    ///     b_dec_o = (b_dec_o − Σ_i c·μ_i·u_i·S[o,i])·w_o + ν_o.
    public init(_ p: SAEParameters) {
        let d = p.inputWidth, s = p.width, c = Double(p.inputScale)
        let v = p.targetDimensionScale.isEmpty ? [Float](repeating: 1, count: d) : p.targetDimensionScale
        let nu = p.targetShift.isEmpty ? [Float](repeating: 0, count: d) : p.targetShift
        let w = v.map { 1 / (Double(p.targetScale) * Double($0)) }
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
        wDec = p.decoder.indices.map { Float(Double(p.decoder[$0]) * w[$0 % d]) }
        threshold = p.logThreshold.isEmpty ? nil : p.logThreshold.map { exp($0) }
        if p.skip.isEmpty {
            skip = nil
            bDec = (0..<d).map { Float(Double(p.decoderBias[$0]) * w[$0] + Double(nu[$0])) }
        } else {
            var weights = [Float](repeating: 0, count: d * d), b = [Float](repeating: 0, count: d)
            for o in 0..<d {
                var shift = 0.0
                for i in 0..<d {
                    let value = Double(p.skip[o * d + i])
                    weights[i * d + o] = Float(factor[i] * value * w[o])
                    shift += offset[i] * value
                }
                b[o] = Float((Double(p.decoderBias[o]) - shift) * w[o] + Double(nu[o]))
            }
            skip = weights
            bDec = b
        }
    }
}
