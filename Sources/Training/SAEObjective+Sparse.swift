import Foundation

extension SAEObjective {
    /// The same loss and gradients as the dense path, from the active entries only: decoding,
    /// ∂L/∂acts at the support, and both weight gradients cost rows × active × d_in.
    func evaluateSparse(_ p: SAEParameters, batch x: [Float], target y: [Float], skipped: [Float]?, rows n: Int,
                        centered: [Float], pre: [Float], codes: SparseCodes, sparsityCoefficient: Double,
                        dead: [Bool]?) throws -> SAEBatchResult {
        let d = p.inputWidth, s = p.width
        var reconstruction = codes.decode(p.decoder, d: d, bias: p.decoderBias)
        if let skipped { for i in reconstruction.indices { reconstruction[i] += skipped[i] } }
        let (reconstructionLoss, dReconstruction) = Self.normalisedError(reconstruction, y, rows: n, width: d)
        let dActs = codes.dotsAtSupport(dReconstruction, p.decoder, d: d)
        var dDecoder = [Float](repeating: 0, count: s * d)
        codes.accumulateByLatent(codes.values, dReconstruction, d: d, into: &dDecoder)
        var dDecoderBias = Self.columnSums(dReconstruction, rows: n, width: d)

        let perRow = Float(sparsityCoefficient / Double(n))
        var dPre = dActs
        var sparsityLoss = 0.0
        var dLogThreshold = [Float](repeating: 0, count: p.logThreshold.count)
        switch architecture {
        case .topk:
            break
        case .relu:
            sparsityLoss = sparsityCoefficient / Double(n) * codes.values.reduce(0.0) { $0 + Double($1) }
            dPre = dActs.map { $0 + perRow }
        case .jumprelu:
            sparsityLoss = sparsityCoefficient * Double(codes.count) / Double(n)
            dLogThreshold = thresholdGradient(pre: pre, logThreshold: p.logThreshold, rows: n, penaltyPerRow: perRow) { i, j in
                var sum: Float = 0
                for c in 0..<d { sum += dReconstruction[i * d + c] * p.decoder[j * d + c] }
                return sum
            }
        }

        var dEncoder = [Float](repeating: 0, count: s * d)
        codes.accumulateByLatent(dPre, centered, d: d, into: &dEncoder)
        var dEncoderBias = codes.sumByLatent(dPre)

        var auxLoss = 0.0
        if architecture == .topk, auxCoefficient > 0, let dead, dead.contains(true) {
            let aux = SparseCodes.select(pre, rows: n, width: s, k: min(auxK, dead.filter { $0 }.count), allowed: dead)
            let auxReconstruction = aux.decode(p.decoder, d: d)
            let residual = zip(y, reconstruction).map { $0 - $1 }
            let residualVariance = max(Self.centeredSquares(residual, rows: n, width: d), 1e-30)
            var dAux = [Float](repeating: 0, count: n * d)
            var auxSquares = 0.0
            for i in 0..<(n * d) {
                let diff = auxReconstruction[i] - residual[i]
                auxSquares += Double(diff) * Double(diff)
                dAux[i] = Float(2 * Double(auxCoefficient) / residualVariance) * diff
            }
            auxLoss = Double(auxCoefficient) * auxSquares / residualVariance
            let dAuxActs = aux.dotsAtSupport(dAux, p.decoder, d: d)
            aux.accumulateByLatent(aux.values, dAux, d: d, into: &dDecoder)
            aux.accumulateByLatent(dAuxActs, centered, d: d, into: &dEncoder)
            let auxBias = aux.sumByLatent(dAuxActs)
            for j in 0..<s { dEncoderBias[j] += auxBias[j] }
        }
        if p.centersInput {
            for j in 0..<s where dEncoderBias[j] != 0 {
                for c in 0..<d { dDecoderBias[c] -= dEncoderBias[j] * p.encoder[j * d + c] }
            }
        }

        var fired = [Bool](repeating: false, count: s)
        for j in codes.latents { fired[Int(j)] = true }
        return SAEBatchResult(loss: reconstructionLoss + sparsityLoss + auxLoss, reconstructionLoss: reconstructionLoss,
                              sparsityLoss: sparsityLoss, auxLoss: auxLoss, l0: Double(codes.count) / Double(n), fired: fired,
                              gradients: SAEGradients(encoder: dEncoder, encoderBias: dEncoderBias, decoder: dDecoder,
                                                      decoderBias: dDecoderBias, logThreshold: dLogThreshold,
                                                      skip: try skipGradient(p, x, dReconstruction, rows: n)))
    }
}
