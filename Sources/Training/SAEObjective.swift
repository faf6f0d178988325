import Foundation
import CPUKernelChoice
import LanternCore

/// What one batch gives: the loss and its parts, the statistics the progress bar shows, which
/// latents fired, and the gradients.
public struct SAEBatchResult: Sendable {
    public var loss: Double
    /// Σ‖x − x̂‖² / Σ‖x − x̄‖²: the normalised MSE (Gao et al.), 1 − explained variance.
    public var reconstructionLoss: Double
    public var sparsityLoss: Double
    public var auxLoss: Double
    /// Mean number of active latents per row.
    public var l0: Double
    public var explainedVariance: Double { 1 - reconstructionLoss }
    public var fired: [Bool]
    public var gradients: SAEGradients
}

/// Dense products on the backend, or sparse ones on the host (rows × active latents × d_in).
public enum ComputePath: Sendable { case automatic, dense, sparse }

/// The training objective of one architecture, with hand-derived gradients. The dense products
/// (encoder, decoder, and their weight gradients) run on the backend; the element-wise parts
/// (selection, masks, kernels of the straight-through estimators) on the host. When few latents
/// are active (TopK always; JumpReLU and ReLU once sparse: at most 5% of entries), everything but
/// the encoder's forward product runs on sparse codes instead (`SAEObjective+Sparse.swift`); both
/// paths compute the same function and gradients.
public struct SAEObjective: Sendable {
    public let backend: any Backend
    public let architecture: SAEArchitecture
    public let k: Int
    public let auxK: Int
    public let auxCoefficient: Float
    public let bandwidth: Float

    public init(backend: any Backend, settings: SAETrainingSettings) {
        self.backend = backend
        architecture = settings.architecture
        k = settings.k
        auxK = settings.auxK
        auxCoefficient = settings.auxCoefficient
        bandwidth = settings.bandwidth
    }

    /// Loss and gradients on `x` [rows, d_in] (already normalised). An SAE reconstructs `x`; a
    /// transcoder predicts `target` (normalised too) from it. `sparsityCoefficient` weighs the L0
    /// (JumpReLU) or L1 (ReLU) penalty; `dead` marks the latents the AuxK loss may use (TopK).
    public func evaluate(_ p: SAEParameters, batch x: [Float], target: [Float]? = nil, rows n: Int,
                         sparsityCoefficient: Double, dead: [Bool]? = nil,
                         path: ComputePath = .automatic) throws -> SAEBatchResult {
        let d = p.inputWidth, s = p.width, b = backend
        guard x.count == n * d, n > 0, target == nil || target!.count == n * d else {
            throw LanternError.shapeMismatch(op: "SAE batch", detail: "\(x.count) values for \(n) rows of \(d)")
        }
        var centered = x
        if p.centersInput { for i in 0..<n { for j in 0..<d { centered[i * d + j] -= p.decoderBias[j] } } }
        let skipped = try skipTerm(p, x, rows: n)
        let y = target ?? x
        let centeredT = try b.matrix(centered, rows: n, cols: d)
        let encoder = try b.matrix(p.encoder, rows: s, cols: d)
        var pre = try b.read(b.matmul(centeredT, encoder))
        Self.addRowBias(&pre, p.encoderBias)
        let threshold = p.logThreshold.map { exp($0) }
        if path != .dense {
            let codes: SparseCodes
            switch architecture {
            case .topk: codes = SparseCodes.select(pre, rows: n, width: s, k: k)
            case .relu: codes = SparseCodes.select(pre, rows: n, width: s, k: nil)
            case .jumprelu: codes = SparseCodes.select(pre, rows: n, width: s, k: nil, thresholds: threshold)
            }
            if path == .sparse || codes.count * 20 <= n * s {
                return try evaluateSparse(p, batch: x, target: y, skipped: skipped, rows: n, centered: centered, pre: pre,
                                          codes: codes, sparsityCoefficient: sparsityCoefficient, dead: dead)
            }
        }

        // The dense path: the decoder goes to the backend, in both layouts (the sparse path reads
        // only the rows of the latents that fire, on the host).
        let decoder = try b.matrix(p.decoder, rows: s, cols: d)
        let decoderT = try b.transpose(decoder)
        // Activation and its derivative with respect to the pre-activation (a 0/1 gate).
        let (acts, gate) = activate(pre, rows: n, width: s, threshold: threshold)
        let actsT = try b.matrix(acts, rows: n, cols: s)
        var reconstruction = try b.read(b.add(b.matmul(actsT, decoderT), b.tensor(p.decoderBias, shape: [d])))
        if let skipped { for i in reconstruction.indices { reconstruction[i] += skipped[i] } }

        // Normalised reconstruction loss and its gradient at x̂.
        let (reconstructionLoss, dReconstruction) = Self.normalisedError(reconstruction, y, rows: n, width: d)
        let dReconstructionT = try b.matrix(dReconstruction, rows: n, cols: d)
        let dActs = try b.read(b.matmul(dReconstructionT, decoder))
        var dDecoder = try b.read(b.matmul(b.transpose(actsT), b.transpose(dReconstructionT)))
        var dDecoderBias = Self.columnSums(dReconstruction, rows: n, width: d)

        // Sparsity penalty, and the pre-activation gradient.
        var dPre = [Float](repeating: 0, count: n * s)
        var dLogThreshold = [Float](repeating: 0, count: p.logThreshold.count)
        var sparsityLoss = 0.0
        let perRow = Float(sparsityCoefficient / Double(n))
        var active = 0
        for i in 0..<(n * s) where gate[i] != 0 { active += 1 }
        switch architecture {
        case .topk:
            for i in 0..<(n * s) { dPre[i] = dActs[i] * gate[i] }
        case .relu:
            sparsityLoss = sparsityCoefficient / Double(n) * acts.reduce(0.0) { $0 + Double($1) }
            for i in 0..<(n * s) { dPre[i] = (dActs[i] + perRow) * gate[i] }
        case .jumprelu:
            sparsityLoss = sparsityCoefficient * Double(active) / Double(n)
            for i in 0..<(n * s) { dPre[i] = dActs[i] * gate[i] }
            dLogThreshold = thresholdGradient(pre: pre, logThreshold: p.logThreshold, rows: n, penaltyPerRow: perRow) {
                dActs[$0 * s + $1]
            }
        }

        // AuxK: dead latents reconstruct the error the live ones left (Gao et al. 2024, §A.2).
        var auxLoss = 0.0
        if architecture == .topk, auxCoefficient > 0, let dead, dead.contains(true) {
            let residual = zip(y, reconstruction).map { $0 - $1 }
            let (auxActs, auxGate) = topk(pre, rows: n, width: s, k: min(auxK, dead.filter { $0 }.count), allowed: dead)
            let auxActsT = try b.matrix(auxActs, rows: n, cols: s)
            let auxReconstruction = try b.read(b.matmul(auxActsT, decoderT))
            let residualVariance = max(Self.centeredSquares(residual, rows: n, width: d), 1e-30)
            var dAux = [Float](repeating: 0, count: n * d)
            var auxSquares = 0.0
            for i in 0..<(n * d) {
                let diff = auxReconstruction[i] - residual[i]
                auxSquares += Double(diff) * Double(diff)
                dAux[i] = Float(2 * Double(auxCoefficient) / residualVariance) * diff
            }
            auxLoss = Double(auxCoefficient) * auxSquares / residualVariance
            let dAuxT = try b.matrix(dAux, rows: n, cols: d)
            let dAuxActs = try b.read(b.matmul(dAuxT, decoder))
            for i in 0..<(n * s) where auxGate[i] != 0 { dPre[i] += dAuxActs[i] }
            let dDecoderAux = try b.read(b.matmul(b.transpose(auxActsT), b.transpose(dAuxT)))
            for i in 0..<dDecoder.count { dDecoder[i] += dDecoderAux[i] }
        }

        // Encoder side: weights, bias, and b_dec through the centring of the input.
        let dPreT = try b.matrix(dPre, rows: n, cols: s)
        let dEncoder = try b.read(b.matmul(b.transpose(dPreT), b.transpose(centeredT)))
        let dEncoderBias = Self.columnSums(dPre, rows: n, width: s)
        if p.centersInput {
            for j in 0..<s where dEncoderBias[j] != 0 {
                for c in 0..<d { dDecoderBias[c] -= dEncoderBias[j] * p.encoder[j * d + c] }
            }
        }

        var fired = [Bool](repeating: false, count: s)
        for i in 0..<n { for j in 0..<s where gate[i * s + j] != 0 { fired[j] = true } }
        return SAEBatchResult(loss: reconstructionLoss + sparsityLoss + auxLoss, reconstructionLoss: reconstructionLoss,
                              sparsityLoss: sparsityLoss, auxLoss: auxLoss, l0: Double(active) / Double(n), fired: fired,
                              gradients: SAEGradients(encoder: dEncoder, encoderBias: dEncoderBias, decoder: dDecoder,
                                                      decoderBias: dDecoderBias, logThreshold: dLogThreshold,
                                                      skip: try skipGradient(p, x, dReconstruction, rows: n)))
    }

    /// x' · skipᵀ [n, d_out], or nil without a skip connection.
    func skipTerm(_ p: SAEParameters, _ x: [Float], rows n: Int) throws -> [Float]? {
        guard !p.skip.isEmpty else { return nil }
        let b = backend
        return try b.read(b.matmul(b.matrix(x, rows: n, cols: p.inputWidth), b.matrix(p.skip, rows: p.inputWidth, cols: p.inputWidth)))
    }

    /// ∂L/∂skip = ∂L/∂ŷᵀ · x' [d_out, d_in] (empty without a skip connection).
    func skipGradient(_ p: SAEParameters, _ x: [Float], _ dReconstruction: [Float], rows n: Int) throws -> [Float] {
        guard !p.skip.isEmpty else { return [] }
        let b = backend, d = p.inputWidth
        return try b.read(b.matmul(b.transpose(b.matrix(dReconstruction, rows: n, cols: d)), b.transpose(b.matrix(x, rows: n, cols: d))))
    }

    /// The architecture's activation and its 0/1 derivative gate.
    func activate(_ pre: [Float], rows n: Int, width s: Int, threshold: [Float]) -> (acts: [Float], gate: [Float]) {
        switch architecture {
        case .topk:
            return topk(pre, rows: n, width: s, k: k, allowed: nil)
        case .relu:
            return (pre.map { max($0, 0) }, pre.map { $0 > 0 ? 1 : 0 })
        case .jumprelu:
            var acts = [Float](repeating: 0, count: n * s), gate = acts
            for i in 0..<n { for j in 0..<s where pre[i * s + j] > threshold[j] {
                acts[i * s + j] = pre[i * s + j]
                gate[i * s + j] = 1
            } }
            return (acts, gate)
        }
    }

    /// ReLU of the k largest pre-activations of each row (among `allowed` latents), zero elsewhere.
    func topk(_ pre: [Float], rows n: Int, width s: Int, k: Int, allowed: [Bool]?) -> (acts: [Float], gate: [Float]) {
        var acts = [Float](repeating: 0, count: n * s), gate = acts
        guard k > 0 else { return (acts, gate) }
        pre.withUnsafeBufferPointer { preBuffer in
            let source = SharedBuffer(pointer: UnsafeMutablePointer(mutating: preBuffer.baseAddress!))
            acts.withUnsafeMutableBufferPointer { actsBuffer in
                gate.withUnsafeMutableBufferPointer { gateBuffer in
                    let a = SharedBuffer(pointer: actsBuffer.baseAddress!), g = SharedBuffer(pointer: gateBuffer.baseAddress!)
                    Parallel.forRanges(n) { rows in
                        for i in rows {
                            let row = UnsafePointer(source.pointer + i * s)
                            let chosen = allowed.map { mask in topIndices(row, count: s, k: k) { mask[$0] } }
                                ?? topIndices(row, count: s, k: k)
                            for j in chosen where row[j] > 0 {
                                a.pointer[i * s + j] = row[j]
                                g.pointer[i * s + j] = 1
                            }
                        }
                    }
                }
            }
        }
        return (acts, gate)
    }

    /// Pseudo-gradient of the loss with respect to log θ (JumpReLU). With the rectangle kernel
    /// K(u) = 1 for |u| < ½ and bandwidth ε, the paper's straight-through estimators are
    ///     ∂ JumpReLU(z; θ) / ∂θ = −(θ/ε) K((z − θ)/ε),    ∂ H(z − θ) / ∂θ = −(1/ε) K((z − θ)/ε),
    /// and d/d log θ = θ · d/dθ.
    /// `dAct(i, j)` gives ∂L/∂acts at row i, latent j.
    func thresholdGradient(pre: [Float], logThreshold: [Float], rows n: Int, penaltyPerRow: Float,
                           dAct: (Int, Int) -> Float) -> [Float] {
        let s = logThreshold.count, eps = bandwidth
        let theta = logThreshold.map { exp($0) }
        var sums = [Float](repeating: 0, count: s)
        pre.withUnsafeBufferPointer { pre in
            for i in 0..<n {
                let row = pre.baseAddress! + i * s
                for j in 0..<s where abs(row[j] - theta[j]) < eps / 2 {
                    sums[j] += dAct(i, j) * (-theta[j] / eps) + penaltyPerRow * (-1 / eps)
                }
            }
        }
        return (0..<s).map { sums[$0] * theta[$0] }
    }

    /// m + bias on every row, in place on the host (one pass over the largest array of a step).
    static func addRowBias(_ m: inout [Float], _ bias: [Float]) {
        let width = bias.count
        m.withUnsafeMutableBufferPointer { buffer in
            let out = SharedBuffer(pointer: buffer.baseAddress!)
            Parallel.forRanges(buffer.count / width) { rows in
                bias.withUnsafeBufferPointer { b in
                    for i in rows { vectorMath.axpy(out.pointer + i * width, 1, b.baseAddress!, count: width) }
                }
            }
        }
    }

    /// Σ over rows and columns of (x − column mean)².
    /// Σ‖x̂ − x‖² / Σ‖x − x̄‖² (1 − explained variance) and its gradient with respect to x̂.
    static func normalisedError(_ reconstruction: [Float], _ x: [Float], rows n: Int, width d: Int)
        -> (loss: Double, gradient: [Float]) {
        let variance = max(centeredSquares(x, rows: n, width: d), 1e-30)
        var error = [Float](repeating: 0, count: n * d)
        var errorSquares = 0.0
        for i in 0..<(n * d) {
            error[i] = reconstruction[i] - x[i]
            errorSquares += Double(error[i]) * Double(error[i])
        }
        return (errorSquares / variance, error.map { Float(2 / variance) * $0 })
    }

    static func centeredSquares(_ x: [Float], rows n: Int, width d: Int) -> Double {
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += Double(x[i * d + j]) } }
        for j in 0..<d { mean[j] /= Double(n) }
        var sum = 0.0
        for i in 0..<n { for j in 0..<d { let v = Double(x[i * d + j]) - mean[j]; sum += v * v } }
        return sum
    }

    static func columnSums(_ x: [Float], rows n: Int, width d: Int) -> [Float] {
        var sums = [Float](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { sums[j] += x[i * d + j] } }
        return sums
    }
}
