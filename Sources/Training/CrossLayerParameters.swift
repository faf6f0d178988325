import Foundation
import Interpretability
import Models
import LanternCore

/// x' = scale · (x − shift) ⊙ dimensionScale (just scale · x without the per-dimension part): one
/// layer's input or target in the training space.
public struct AffineNormalization: Sendable, Equatable {
    public var scale: Float
    public var shift: [Float]
    public var dimensionScale: [Float]

    public init(scale: Float = 1, shift: [Float] = [], dimensionScale: [Float] = []) {
        self.scale = scale
        self.shift = shift
        self.dimensionScale = dimensionScale
    }

    public func apply(_ x: [Float], width d: Int) -> [Float] {
        SAEParameters.affine(x, scale: scale, shift: shift, dimensionScale: dimensionScale, width: d)
    }

    /// 1 / (scale · dimensionScale_o) per output dimension: what undoes the scaling.
    func inverseFactors(width d: Int) -> [Double] {
        (0..<d).map { 1 / (Double(scale) * Double(dimensionScale.isEmpty ? 1 : dimensionScale[$0])) }
    }

    func shiftValue(_ o: Int) -> Double { shift.isEmpty ? 0 : Double(shift[o]) }
}

/// A cross-layer transcoder in its training space (Ameisen et al. 2025): layer i's latents read
/// layer i's normalised MLP input x'_i,
///     a_i = TopK(x'_i · E_iᵀ + b_i)                          E_i [width, d]
/// and every output layer j is predicted from the latents of layers 0…j,
///     ŷ'_j = Σ_{i ≤ j} a_i · D_{i→j} + b_dec_j               D_{i→j} [width, d]
/// against layer j's normalised MLP output y'_j. A latent's decoder rows into all its output
/// layers are kept at unit norm together.
public struct CrossLayerParameters: Sendable, Equatable {
    public var layerCount: Int
    public var width: Int
    /// d: the MLP input and output width.
    public var inputWidth: Int
    public var encoders: [[Float]]
    public var encoderBiases: [[Float]]
    /// decoders[i][j − i]: D_{i→j}.
    public var decoders: [[[Float]]]
    /// Per output layer.
    public var decoderBiases: [[Float]]
    public var inputNormalization: [AffineNormalization]
    public var targetNormalization: [AffineNormalization]

    /// Decoder blocks: n(n+1)/2.
    public static func decoderBlocks(layers n: Int) -> Int { n * (n + 1) / 2 }

    /// The named tensors in a fixed order (Adam's state and checkpoints use it).
    public var tensors: [(name: String, values: [Float])] {
        var all: [(String, [Float])] = []
        for i in 0..<layerCount {
            all.append(("encoder.\(i)", encoders[i]))
            all.append(("encoder_bias.\(i)", encoderBiases[i]))
            for j in i..<layerCount { all.append(("decoder.\(i).\(j)", decoders[i][j - i])) }
        }
        for j in 0..<layerCount { all.append(("decoder_bias.\(j)", decoderBiases[j])) }
        return all
    }

    /// Index of each tensor in `tensors`.
    static func encoderIndex(_ i: Int, layers n: Int) -> Int {
        // Before layer i: i encoders, i biases and the decoders of layers 0..<i.
        2 * i + (decoderBlocks(layers: n) - decoderBlocks(layers: n - i))
    }

    static func decoderIndex(_ i: Int, _ j: Int, layers n: Int) -> Int { encoderIndex(i, layers: n) + 2 + (j - i) }
    static func decoderBiasIndex(_ j: Int, layers n: Int) -> Int { 2 * n + decoderBlocks(layers: n) + j }

    /// Random decoder rows (each latent's rows into all its layers at unit norm together), the
    /// encoder rows drawn apart at unit norm, zero encoder biases, the given decoder biases.
    static func initial(layers n: Int, width s: Int, inputWidth d: Int, decoderBiases: [[Float]],
                        random: inout SeededGenerator) -> CrossLayerParameters {
        var encoders: [[Float]] = [], decoders: [[[Float]]] = []
        for i in 0..<n {
            var encoder = (0..<(s * d)).map { _ in random.normal() }
            SAEParameters.normalizeRows(&encoder, width: d)
            encoders.append(encoder)
            decoders.append((i..<n).map { _ in (0..<(s * d)).map { _ in random.normal() } })
        }
        var p = CrossLayerParameters(layerCount: n, width: s, inputWidth: d, encoders: encoders,
                                     encoderBiases: [[Float]](repeating: [Float](repeating: 0, count: s), count: n),
                                     decoders: decoders, decoderBiases: decoderBiases,
                                     inputNormalization: [AffineNormalization](repeating: AffineNormalization(), count: n),
                                     targetNormalization: [AffineNormalization](repeating: AffineNormalization(), count: n))
        p.normalizeDecoderRows()
        return p
    }

    /// Scales each latent's decoder rows, over all the layers it writes to, to unit norm together.
    mutating func normalizeDecoderRows() {
        let (n, s, d) = (layerCount, width, inputWidth)
        for i in 0..<n {
            var squares = [Float](repeating: 0, count: s)
            for k in 0..<(n - i) {
                decoders[i][k].withUnsafeBufferPointer { w in
                    for f in 0..<s { squares[f] += vectorMath.dot(w.baseAddress! + f * d, w.baseAddress! + f * d, count: d) }
                }
            }
            let inverse = squares.map { $0 > 0 ? 1 / $0.squareRoot() : 1 }
            for k in 0..<(n - i) {
                decoders[i][k].withUnsafeMutableBufferPointer { w in
                    for f in 0..<s where inverse[f] != 1 { for c in 0..<d { w[f * d + c] *= inverse[f] } }
                }
            }
        }
    }

    /// g −= (g · w) w for each latent's joint decoder row w (unit norm), in place in the gradients
    /// of all tensors (`tensors`' order): the step moves along the sphere the rows are kept on.
    func removeParallelComponent(_ gradients: inout [[Float]]) {
        let (n, s, d) = (layerCount, width, inputWidth)
        for i in 0..<n {
            let first = Self.decoderIndex(i, i, layers: n)
            var dots = [Float](repeating: 0, count: s)
            for k in 0..<(n - i) {
                gradients[first + k].withUnsafeBufferPointer { g in
                    decoders[i][k].withUnsafeBufferPointer { w in
                        for f in 0..<s { dots[f] += vectorMath.dot(g.baseAddress! + f * d, w.baseAddress! + f * d, count: d) }
                    }
                }
            }
            for k in 0..<(n - i) {
                gradients[first + k].withUnsafeMutableBufferPointer { g in
                    decoders[i][k].withUnsafeBufferPointer { w in
                        for f in 0..<s { vectorMath.axpy(g.baseAddress! + f * d, -dots[f], w.baseAddress! + f * d, count: d) }
                    }
                }
            }
        }
    }

    /// The transcoder with its normalisation folded in, per source layer as Gemma Scope 2 stores
    /// one: for raw x_i, pre = x_i · W_enc + b_enc; out_j = Σ_{i≤j} a_i · W_dec[i][j − i] + b_dec_j.
    /// With x' = c(x − μ) ⊙ u in and y = ŷ' · w + ν out (w_o = 1 / (t·v_o)):
    ///     W_enc[c,f] = c·u_c·E[f,c],  b_enc_f = b_f − Σ_c c·μ_c·u_c·E[f,c],
    ///     W_dec[i][f, j−i, o] = D_{i→j}[f,o] · w^{(j)}_o,  b_dec_j,o = b_dec_j,o · w^{(j)}_o + ν^{(j)}_o.
    public func folded() -> [CrossLayerTranscoderLayer] {
        let (n, s, d) = (layerCount, width, inputWidth)
        let w = targetNormalization.map { $0.inverseFactors(width: d) }
        return (0..<n).map { i in
            let norm = inputNormalization[i]
            let factor = (0..<d).map { Double(norm.scale) * Double(norm.dimensionScale.isEmpty ? 1 : norm.dimensionScale[$0]) }
            var wEnc = [Float](repeating: 0, count: d * s), bEnc = [Float](repeating: 0, count: s)
            for f in 0..<s {
                var shift = 0.0
                for c in 0..<d {
                    let e = Double(encoders[i][f * d + c])
                    wEnc[c * s + f] = Float(factor[c] * e)
                    shift += factor[c] * norm.shiftValue(c) * e
                }
                bEnc[f] = Float(Double(encoderBiases[i][f]) - shift)
            }
            let slots = n - i
            var wDec = [Float](repeating: 0, count: s * slots * d)
            for f in 0..<s {
                for k in 0..<slots {
                    for o in 0..<d { wDec[(f * slots + k) * d + o] = Float(Double(decoders[i][k][f * d + o]) * w[i + k][o]) }
                }
            }
            let bDec = (0..<d).map { o in Float(Double(decoderBiases[i][o]) * w[i][o] + targetNormalization[i].shiftValue(o)) }
            return CrossLayerTranscoderLayer(wEnc: wEnc, bEnc: bEnc, threshold: nil, wDec: wDec, bDec: bDec)
        }
    }
}
