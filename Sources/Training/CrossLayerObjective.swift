import Foundation
import LanternCore

/// What one cross-layer batch gives: the loss, each output layer's FVU, the latents that fired and
/// the gradients (in the order of `CrossLayerParameters.tensors`).
public struct CrossLayerBatchResult: Sendable {
    /// Σ_j FVU_j + the AuxK term.
    public var loss: Double
    /// Per output layer: Σ‖ŷ'_j − y'_j‖² / Σ‖y'_j − ȳ'_j‖².
    public var fvu: [Double]
    public var auxLoss: Double
    /// Mean active latents per row, per source layer.
    public var l0: [Double]
    /// fired[i][f]: latent f of layer i was active on some row.
    public var fired: [[Bool]]
    public var gradients: [[Float]]

    public var reconstructionLoss: Double { fvu.reduce(0, +) }
    public var meanFVU: Double { reconstructionLoss / Double(max(fvu.count, 1)) }
}

/// The cross-layer transcoder's TopK objective with hand-derived gradients on sparse codes: the
/// encoders' forward products run on the backend (rows × width × d per layer); decoding, ∂L/∂a at
/// the support and both weight gradients cost rows × k × d per decoder block.
///
///     L = Σ_j ‖ŷ'_j − y'_j‖² / V_j   (V_j: Σ of layer j's centred squared targets)
///     ∂L/∂ŷ'_j = g_j = 2(ŷ'_j − y'_j) / V_j
///     ∂L/∂D_{i→j}[f] = Σ_rows a_i[f] g_j,   ∂L/∂a_i[f] = Σ_{j ≥ i} g_j · D_{i→j}[f],   ∂L/∂b_dec_j = Σ_rows g_j
///     ∂L/∂E_i[f] = Σ_rows ∂L/∂a_i[f] x'_i (rows where f is among the TopK), ∂L/∂b_i[f] likewise.
/// AuxK (Gao et al. 2024, §A.2), with dead latents: each layer's top `auxK` dead latents predict
/// every later layer's residual y'_j − ŷ'_j (held fixed), α Σ_j ‖â_j − r_j‖² / Var(r_j).
public struct CrossLayerObjective: Sendable {
    public let backend: any Backend
    public let k: Int
    public let auxK: Int
    public let auxCoefficient: Float

    public init(backend: any Backend, settings: SAETrainingSettings) {
        self.backend = backend
        k = settings.k
        auxK = settings.auxK
        auxCoefficient = settings.auxCoefficient
    }

    /// Pre-activations x'_i · E_iᵀ + b_i [rows, width] of every layer.
    func preActivations(_ p: CrossLayerParameters, inputs x: [[Float]], rows n: Int) throws -> [[Float]] {
        let b = backend, d = p.inputWidth, s = p.width
        return try (0..<p.layerCount).map { i in
            var pre = try b.read(b.matmul(b.matrix(x[i], rows: n, cols: d), b.matrix(p.encoders[i], rows: s, cols: d)))
            SAEObjective.addRowBias(&pre, p.encoderBiases[i])
            return pre
        }
    }

    /// Every output layer's prediction ŷ'_j [rows, d] (in the training space) from normalised inputs.
    public func reconstruct(_ p: CrossLayerParameters, inputs x: [[Float]], rows n: Int) throws -> [[Float]] {
        let codes = try preActivations(p, inputs: x, rows: n).map { SparseCodes.select($0, rows: n, width: p.width, k: k) }
        return Self.decode(p, codes: codes, bias: true)
    }

    /// Σ_{i ≤ j} codes_i · D_{i→j} (+ b_dec_j) for every output layer j.
    static func decode(_ p: CrossLayerParameters, codes: [SparseCodes], bias: Bool) -> [[Float]] {
        let d = p.inputWidth
        return (0..<p.layerCount).map { j in
            var out = codes[0].decode(p.decoders[0][j], d: d, bias: bias ? p.decoderBiases[j] : nil)
            for i in stride(from: 1, through: j, by: 1) { codes[i].decode(p.decoders[i][j - i], d: d, adding: &out) }
            return out
        }
    }

    /// Loss and gradients on normalised inputs and targets (each `layerCount` arrays of rows × d).
    /// `dead[i][f]` marks the latents the AuxK term may use.
    public func evaluate(_ p: CrossLayerParameters, inputs x: [[Float]], targets y: [[Float]], rows n: Int,
                         dead: [[Bool]]? = nil) throws -> CrossLayerBatchResult {
        let (layers, s, d) = (p.layerCount, p.width, p.inputWidth)
        guard x.count == layers, y.count == layers, n > 0,
              x.allSatisfy({ $0.count == n * d }), y.allSatisfy({ $0.count == n * d }) else {
            throw LanternError.shapeMismatch(op: "cross-layer transcoder batch", detail: "expected \(layers) inputs and targets of \(n) rows of \(d)")
        }
        let pre = try preActivations(p, inputs: x, rows: n)
        let codes = pre.map { SparseCodes.select($0, rows: n, width: s, k: k) }
        let reconstruction = Self.decode(p, codes: codes, bias: true)

        var gradients = p.tensors.map { [Float](repeating: 0, count: $0.values.count) }
        var fvu: [Double] = [], dOut: [[Float]] = []
        for j in 0..<layers {
            let (loss, g) = SAEObjective.normalisedError(reconstruction[j], y[j], rows: n, width: d)
            fvu.append(loss)
            dOut.append(g)
            gradients[CrossLayerParameters.decoderBiasIndex(j, layers: layers)] = SAEObjective.columnSums(g, rows: n, width: d)
        }
        var dActs = backpropagate(p, codes: codes, dOut: dOut, gradients: &gradients)
        // ∂L/∂pre = ∂L/∂a on the support (TopK's gate); the encoders' gradients from there.
        var auxLoss = 0.0
        if auxCoefficient > 0, let dead, dead.contains(where: { $0.contains(true) }) {
            let auxCodes = (0..<layers).map { i in
                SparseCodes.select(pre[i], rows: n, width: s, k: min(auxK, dead[i].filter { $0 }.count), allowed: dead[i])
            }
            let auxReconstruction = Self.decode(p, codes: auxCodes, bias: false)
            var dAux: [[Float]] = []
            for j in 0..<layers {
                let residual = zip(y[j], reconstruction[j]).map { $0 - $1 }
                let (loss, g) = SAEObjective.normalisedError(auxReconstruction[j], residual, rows: n, width: d)
                auxLoss += Double(auxCoefficient) * loss
                dAux.append(g.map { $0 * auxCoefficient })
            }
            let dAuxActs = backpropagate(p, codes: auxCodes, dOut: dAux, gradients: &gradients)
            for i in 0..<layers { accumulateEncoder(i, p, codes: auxCodes[i], dActs: dAuxActs[i], x: x[i], gradients: &gradients) }
        }
        for i in 0..<layers {
            accumulateEncoder(i, p, codes: codes[i], dActs: dActs[i], x: x[i], gradients: &gradients)
            dActs[i] = []
        }
        var fired = [[Bool]](repeating: [Bool](repeating: false, count: s), count: layers)
        for i in 0..<layers { for f in codes[i].latents { fired[i][Int(f)] = true } }
        return CrossLayerBatchResult(loss: fvu.reduce(0, +) + auxLoss, fvu: fvu, auxLoss: auxLoss,
                                     l0: codes.map { Double($0.count) / Double(n) }, fired: fired, gradients: gradients)
    }

    /// Given ∂L/∂ŷ'_j for every output layer: adds ∂L/∂D_{i→j} into `gradients`, returns ∂L/∂a_i
    /// at each layer's support.
    func backpropagate(_ p: CrossLayerParameters, codes: [SparseCodes], dOut: [[Float]], gradients: inout [[Float]]) -> [[Float]] {
        let (layers, d) = (p.layerCount, p.inputWidth)
        return (0..<layers).map { i in
            var dActs = [Float](repeating: 0, count: codes[i].count)
            for j in i..<layers {
                codes[i].accumulateByLatent(codes[i].values, dOut[j], d: d, into: &gradients[CrossLayerParameters.decoderIndex(i, j, layers: layers)])
                let dots = codes[i].dotsAtSupport(dOut[j], p.decoders[i][j - i], d: d)
                for e in dActs.indices { dActs[e] += dots[e] }
            }
            return dActs
        }
    }

    func accumulateEncoder(_ i: Int, _ p: CrossLayerParameters, codes: SparseCodes, dActs: [Float], x: [Float],
                           gradients: inout [[Float]]) {
        let index = CrossLayerParameters.encoderIndex(i, layers: p.layerCount)
        codes.accumulateByLatent(dActs, x, d: p.inputWidth, into: &gradients[index])
        let bias = codes.sumByLatent(dActs)
        for f in 0..<p.width { gradients[index + 1][f] += bias[f] }
    }
}
