import Models
import CPUBackend
import XCTest
@testable import Training

/// The hand-derived gradients against central finite differences of the loss, on shapes small
/// enough that every parameter is checked.
final class GradientTests: XCTestCase {
    let backend = CPUBackend()

    func settings(_ architecture: SAEArchitecture) -> SAETrainingSettings {
        SAETrainingSettings(architecture: architecture, width: 6, k: 3, sparsityCoefficient: 0.05, batchSize: 5,
                            tokens: 5, bandwidth: 0.05, initialThreshold: 0.05, inputWidth: 4)
    }

    func randomSetup(_ architecture: SAEArchitecture, seed: UInt64) -> (SAEParameters, [Float]) {
        var random = SeededGenerator(seed: seed)
        var p = SAEParameters.initial(inputWidth: 4, width: 6, architecture: architecture, initialThreshold: 0.05,
                                      decoderBias: (0..<4).map { _ in 0.1 * random.normal() }, inputScale: 1, random: &random)
        p.encoder = p.encoder.map { $0 + 0.3 * random.normal() }
        p.encoderBias = p.encoderBias.map { _ in 0.1 * random.normal() }
        let x = (0..<20).map { _ in random.normal() }
        return (p, x)
    }

    /// Loss as a function of one parameter entry, for finite differences.
    func loss(_ objective: SAEObjective, _ p: SAEParameters, _ x: [Float], coefficient: Double) throws -> Double {
        try objective.evaluate(p, batch: x, rows: 5, sparsityCoefficient: coefficient, path: .dense).loss
    }

    func check(_ architecture: SAEArchitecture, coefficient: Double) throws {
        for path in [ComputePath.dense, .sparse] { try check(architecture, coefficient: coefficient, path: path) }
    }

    func check(_ architecture: SAEArchitecture, coefficient: Double, path: ComputePath) throws {
        let objective = SAEObjective(backend: backend, settings: settings(architecture))
        let (p, x) = randomSetup(architecture, seed: 7)
        let g = try objective.evaluate(p, batch: x, rows: 5, sparsityCoefficient: coefficient, path: path).gradients
        let eps: Float = 1e-3
        let paths: [(String, WritableKeyPath<SAEParameters, [Float]>, [Float])] = [
            ("encoder", \.encoder, g.encoder), ("encoder_bias", \.encoderBias, g.encoderBias),
            ("decoder", \.decoder, g.decoder), ("decoder_bias", \.decoderBias, g.decoderBias),
        ]
        var checked = 0
        for (name, path, analytic) in paths {
            for i in 0..<p[keyPath: path].count {
                var plus = p, minus = p
                plus[keyPath: path][i] += eps
                minus[keyPath: path][i] -= eps
                let lossPlus = try loss(objective, plus, x, coefficient: coefficient)
                let lossMinus = try loss(objective, minus, x, coefficient: coefficient)
                // A perturbation that changes which latents are active makes the loss jump:
                // finite differences mean nothing there.
                let active = try objective.evaluate(plus, batch: x, rows: 5, sparsityCoefficient: 0).l0
                    == objective.evaluate(minus, batch: x, rows: 5, sparsityCoefficient: 0).l0
                guard active else { continue }
                let numeric = (lossPlus - lossMinus) / Double(2 * eps)
                XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 2e-3 + 2e-2 * abs(numeric),
                               "\(architecture) \(path) \(name)[\(i)]")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 40, "too few of the 58 entries checked")
    }

    func testTopKGradients() throws { try check(.topk, coefficient: 0) }
    func testReLUGradientsWithL1() throws { try check(.relu, coefficient: 0.05) }
    /// JumpReLU's L0 term has no gradient with respect to the pre-activations (it reaches only θ,
    /// through the straight-through estimator), and finite differences agree: it is flat there.
    func testJumpReLUGradients() throws { try check(.jumprelu, coefficient: 0.05) }

    /// The sparse path (host, active entries only) and the dense one (backend matmuls) agree on
    /// everything, AuxK included.
    func testSparseAndDensePathsAgree() throws {
        for architecture in SAEArchitecture.allCases {
            let objective = SAEObjective(backend: backend, settings: settings(architecture))
            let (p, x) = randomSetup(architecture, seed: 9)
            let dead = [true, false, true, false, false, true]
            let a = try objective.evaluate(p, batch: x, rows: 5, sparsityCoefficient: 0.05, dead: dead, path: .dense)
            let b = try objective.evaluate(p, batch: x, rows: 5, sparsityCoefficient: 0.05, dead: dead, path: .sparse)
            XCTAssertEqual(a.loss, b.loss, accuracy: 1e-5, "\(architecture)")
            XCTAssertEqual(a.auxLoss, b.auxLoss, accuracy: 1e-6, "\(architecture)")
            XCTAssertEqual(a.l0, b.l0, "\(architecture)")
            XCTAssertEqual(a.fired, b.fired, "\(architecture)")
            let pairs = [("encoder", a.gradients.encoder, b.gradients.encoder), ("encoder_bias", a.gradients.encoderBias, b.gradients.encoderBias),
                         ("decoder", a.gradients.decoder, b.gradients.decoder), ("decoder_bias", a.gradients.decoderBias, b.gradients.decoderBias),
                         ("log_threshold", a.gradients.logThreshold, b.gradients.logThreshold)]
            for (name, u, v) in pairs {
                XCTAssertEqual(u.count, v.count)
                for (ui, vi) in zip(u, v) { XCTAssertEqual(ui, vi, accuracy: 1e-5 + 1e-4 * abs(ui), "\(architecture) \(name)") }
            }
        }
    }

    /// The threshold's pseudo-gradient, from the paper's formulas written out by hand.
    func testJumpReLUThresholdPseudoGradient() throws {
        let objective = SAEObjective(backend: backend, settings: settings(.jumprelu))
        let (p, x) = randomSetup(.jumprelu, seed: 3)
        let lambda = 0.05
        let result = try objective.evaluate(p, batch: x, rows: 5, sparsityCoefficient: lambda)
        // Recompute pre, x̂ and ∂L/∂acts on the host in Double.
        let d = 4, s = 6, n = 5, eps = 0.05
        var pre = [Double](repeating: 0, count: n * s), xhat = [Double](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<s {
            var v = Double(p.encoderBias[j])
            for c in 0..<d { v += (Double(x[i * d + c]) - Double(p.decoderBias[c])) * Double(p.encoder[j * d + c]) }
            pre[i * s + j] = v
        } }
        let theta = p.logThreshold.map { exp(Double($0)) }
        for i in 0..<n { for c in 0..<d {
            var v = Double(p.decoderBias[c])
            for j in 0..<s where pre[i * s + j] > theta[j] { v += pre[i * s + j] * Double(p.decoder[j * d + c]) }
            xhat[i * d + c] = v
        } }
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for c in 0..<d { mean[c] += Double(x[i * d + c]) / Double(n) } }
        var variance = 0.0
        for i in 0..<n { for c in 0..<d { variance += pow(Double(x[i * d + c]) - mean[c], 2) } }
        for j in 0..<s {
            var dTheta = 0.0
            for i in 0..<n where abs(pre[i * s + j] - theta[j]) < eps / 2 {
                var dAct = 0.0
                for c in 0..<d { dAct += 2 * (xhat[i * d + c] - Double(x[i * d + c])) / variance * Double(p.decoder[j * d + c]) }
                dTheta += dAct * (-theta[j] / eps) + lambda / Double(n) * (-1 / eps)
            }
            XCTAssertEqual(Double(result.gradients.logThreshold[j]), dTheta * theta[j], accuracy: 1e-4 + 1e-3 * abs(dTheta * theta[j]))
        }
    }

    /// AuxK: with every latent dead, the auxiliary loss is the normalised error of the top-k_aux
    /// reconstruction of the residual; its gradient at the decoder follows from that.
    func testAuxKLossIsPresentOnlyWithDeadLatents() throws {
        let objective = SAEObjective(backend: backend, settings: settings(.topk))
        let (p, x) = randomSetup(.topk, seed: 5)
        let alive = try objective.evaluate(p, batch: x, rows: 5, sparsityCoefficient: 0, dead: [Bool](repeating: false, count: 6))
        let dead = try objective.evaluate(p, batch: x, rows: 5, sparsityCoefficient: 0, dead: [Bool](repeating: true, count: 6))
        XCTAssertEqual(alive.auxLoss, 0)
        XCTAssertGreaterThan(dead.auxLoss, 0)
        XCTAssertEqual(alive.reconstructionLoss, dead.reconstructionLoss)
        XCTAssertNotEqual(alive.gradients.decoder, dead.gradients.decoder)
    }
}
