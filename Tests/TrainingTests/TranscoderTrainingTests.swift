import CPUBackend
import LanternCore
import Models
import XCTest
@testable import Training

/// Transcoders: the objective's gradients (target ≠ input, no b_dec centring, the skip
/// connection) against finite differences, training that learns a sparse map, an exact resume,
/// and the export's folding of the normalisation.
final class TranscoderTrainingTests: XCTestCase {
    let backend = CPUBackend()

    func settings(_ architecture: SAEArchitecture, skip: Bool) -> SAETrainingSettings {
        var s = SAETrainingSettings(architecture: architecture, width: 6, k: 3, sparsityCoefficient: 0.05, batchSize: 5,
                                    tokens: 5, bandwidth: 0.05, initialThreshold: 0.05, inputWidth: 4)
        s.transcoder = true
        s.skipConnection = skip
        return s
    }

    func randomSetup(_ architecture: SAEArchitecture, seed: UInt64) -> (SAEParameters, [Float], [Float]) {
        var random = SeededGenerator(seed: seed)
        var p = SAEParameters.initial(inputWidth: 4, width: 6, architecture: architecture, initialThreshold: 0.05,
                                      decoderBias: (0..<4).map { _ in 0.1 * random.normal() }, inputScale: 1, random: &random)
        p.centersInput = false
        p.encoder = p.encoder.map { $0 + 0.3 * random.normal() }
        p.encoderBias = p.encoderBias.map { _ in 0.1 * random.normal() }
        p.skip = (0..<16).map { _ in 0.2 * random.normal() }
        let x = (0..<20).map { _ in random.normal() }
        let y = (0..<20).map { _ in random.normal() }
        return (p, x, y)
    }

    func testGradientsMatchFiniteDifferences() throws {
        for architecture in SAEArchitecture.allCases {
            for path in [ComputePath.dense, .sparse] {
                let objective = SAEObjective(backend: backend, settings: settings(architecture, skip: true))
                let (p, x, y) = randomSetup(architecture, seed: 11)
                func loss(_ q: SAEParameters) throws -> Double {
                    try objective.evaluate(q, batch: x, target: y, rows: 5, sparsityCoefficient: 0.05, path: .dense).loss
                }
                let g = try objective.evaluate(p, batch: x, target: y, rows: 5, sparsityCoefficient: 0.05, path: path).gradients
                XCTAssertEqual(g.skip.count, 16)
                let eps: Float = 1e-3
                let keyPaths: [(String, WritableKeyPath<SAEParameters, [Float]>, [Float])] = [
                    ("encoder", \.encoder, g.encoder), ("encoder_bias", \.encoderBias, g.encoderBias),
                    ("decoder", \.decoder, g.decoder), ("decoder_bias", \.decoderBias, g.decoderBias), ("skip", \.skip, g.skip),
                ]
                var checked = 0
                for (name, key, analytic) in keyPaths {
                    for i in 0..<p[keyPath: key].count {
                        var plus = p, minus = p
                        plus[keyPath: key][i] += eps
                        minus[keyPath: key][i] -= eps
                        let same = try objective.evaluate(plus, batch: x, target: y, rows: 5, sparsityCoefficient: 0).l0
                            == objective.evaluate(minus, batch: x, target: y, rows: 5, sparsityCoefficient: 0).l0
                        guard same else { continue }
                        let numeric = (try loss(plus) - loss(minus)) / Double(2 * eps)
                        XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 2e-3 + 2e-2 * abs(numeric),
                                       "\(architecture) \(path) \(name)[\(i)]")
                        checked += 1
                    }
                }
                XCTAssertGreaterThan(checked, 60, "\(architecture) \(path): too few entries checked")
            }
        }
    }

    /// y = relu(x·A)·B + x·C: a sparse map plus a linear one. The transcoder with a skip learns it
    /// far better than the untrained start, and better than without the skip.
    func testLearnsASparseMapPlusALinearOne() throws {
        let d = 8, rows = 2048
        var random = SeededGenerator(seed: 3)
        let a = (0..<(d * 16)).map { _ in random.normal() }, b = (0..<(16 * d)).map { _ in random.normal() / 4 }
        let c = (0..<(d * d)).map { _ in random.normal() / 2 }
        var x = [Float](), y = [Float]()
        for _ in 0..<rows {
            let row = (0..<d).map { _ in random.normal() }
            var hidden = [Float](repeating: 0, count: 16)
            for h in 0..<16 {
                var sum: Float = -1.5
                for i in 0..<d { sum += row[i] * a[i * 16 + h] }
                hidden[h] = max(0, sum)
            }
            for o in 0..<d {
                var sum: Float = 0
                for h in 0..<16 { sum += hidden[h] * b[h * d + o] }
                for i in 0..<d { sum += row[i] * c[i * d + o] }
                y.append(sum)
            }
            x += row
        }
        func train(skip: Bool) throws -> Double {
            var s = SAETrainingSettings(architecture: .topk, width: 32, k: 4, learningRate: 1e-2, batchSize: 256,
                                        tokens: 256 * 300, inputWidth: d)
            s.transcoder = true
            s.skipConnection = skip
            let trainer = try SAETrainer(settings: s, source: InMemoryActivations(values: x, width: d),
                                         targets: InMemoryActivations(values: y, width: d), backend: backend)
            let first = try trainer.trainStep().reconstructionLoss
            var last = first
            while !trainer.isFinished { last = try trainer.trainStep().reconstructionLoss }
            XCTAssertLessThan(last, first / 4, "skip \(skip)")
            return last
        }
        let withSkip = try train(skip: true), without = try train(skip: false)
        XCTAssertLessThan(withSkip, without, "the skip connection should capture the linear part")
        XCTAssertLessThan(withSkip, 0.1)
    }

    func testResumeIsExactWithASkipConnection() throws {
        let d = 4
        var random = SeededGenerator(seed: 5)
        let x = (0..<(d * 300)).map { _ in random.normal() }, y = (0..<(d * 300)).map { _ in random.normal() }
        var s = SAETrainingSettings(architecture: .jumprelu, width: 8, targetL0: 3, batchSize: 50, tokens: 50 * 8,
                                    normalization: .perDimension, inputWidth: d)
        s.transcoder = true
        s.skipConnection = true
        let source = InMemoryActivations(values: x, width: d), targets = InMemoryActivations(values: y, width: d)
        let whole = try SAETrainer(settings: s, source: source, targets: targets, backend: backend)
        while !whole.isFinished { try whole.trainStep() }
        let part = try SAETrainer(settings: s, source: source, targets: targets, backend: backend)
        for _ in 0..<3 { try part.trainStep() }
        let path = NSTemporaryDirectory() + "transcoder-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try part.state.save(path: path)
        XCTAssertThrowsError(try SAETrainer.resume(checkpoint: path, source: source, backend: backend))
        let resumed = try SAETrainer.resume(checkpoint: path, source: source, targets: targets, backend: backend)
        XCTAssertTrue(resumed.settings.transcoder && resumed.settings.skipConnection)
        while !resumed.isFinished { try resumed.trainStep() }
        XCTAssertEqual(resumed.parameters, whole.parameters)
    }

    /// The folded weights on raw activations give the training space's prediction, scaled back.
    func testExportFoldsTheNormalisation() throws {
        for architecture in [SAEArchitecture.jumprelu, .topk] {
            var (p, x, _) = randomSetup(architecture, seed: 2)
            var random = SeededGenerator(seed: 9)
            p.inputScale = 0.7
            p.targetScale = 1.9
            p.inputShift = (0..<4).map { _ in random.normal() }
            p.dimensionScale = (0..<4).map { _ in 0.5 + abs(random.normal()) }
            p.targetShift = (0..<4).map { _ in random.normal() }
            p.targetDimensionScale = (0..<4).map { _ in 0.5 + abs(random.normal()) }
            let folded = FoldedTranscoder(p)
            let s = p.width, d = 4
            for r in 0..<5 {
                let raw = Array(x[(r * d)..<((r + 1) * d)])
                let xn = p.normalized(raw)
                // Training space.
                let pre = (0..<s).map { j in (0..<d).reduce(p.encoderBias[j]) { $0 + xn[$1] * p.encoder[j * d + $1] } }
                // Folded.
                let preFolded = (0..<s).map { j in (0..<d).reduce(folded.bEnc[j]) { $0 + raw[$1] * folded.wEnc[$1 * s + j] } }
                for j in 0..<s { XCTAssertEqual(pre[j], preFolded[j], accuracy: 1e-4) }
                let acts = pre.map { max($0, 0) }
                for o in 0..<d {
                    let normalisedOutput = (0..<s).reduce(p.decoderBias[o]) { $0 + acts[$1] * p.decoder[$1 * d + o] }
                        + (0..<d).reduce(0) { $0 + xn[$1] * p.skip[o * d + $1] }
                    let trained = normalisedOutput / (p.targetScale * p.targetDimensionScale[o]) + p.targetShift[o]
                    let exported = (0..<s).reduce(folded.bDec[o]) { $0 + acts[$1] * folded.wDec[$1 * d + o] }
                        + (0..<d).reduce(0) { $0 + raw[$1] * folded.skip![$1 * d + o] }
                    XCTAssertEqual(trained, exported, accuracy: 1e-4)
                }
            }
            XCTAssertEqual(folded.threshold != nil, architecture == .jumprelu)
            x.removeAll()
        }
    }
}
