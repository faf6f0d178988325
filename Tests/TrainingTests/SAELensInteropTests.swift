import CPUBackend
import Interpretability
import XCTest
@testable import Training

/// What `lantern sae train` writes, `SAE.load` (the interpretability module's SAELens reader)
/// reads back as the same autoencoder: same codes, same reconstructions, in model units.
final class SAELensInteropTests: XCTestCase {
    func testTrainedSAEsLoadAndEncodeAsTrained() throws {
        let backend = CPUBackend()
        let data = SyntheticRecoveryTests.sparseData(rows: 600, width: 16, features: 24, active: 3, seed: 8)
        // Dimension 3 is 40× larger than the rest and offset, like Gemma's huge residual dimensions.
        let values = data.rows.enumerated().map { i, v in i % 16 == 3 ? v * 200 + 50 : v * 5 - 1 }
        let source = InMemoryActivations(values: values, width: 16)
        for architecture in SAEArchitecture.allCases {
          for normalization in InputNormalization.allCases {
            let settings = SAETrainingSettings(architecture: architecture, width: 48, k: 4, targetL0: 6, batchSize: 100,
                                               tokens: 100 * 20, bandwidth: 0.05, seed: 6, normalization: normalization,
                                               inputWidth: 16)
            let trainer = try SAETrainer(settings: settings, source: source, backend: backend)
            while !trainer.isFinished { try trainer.trainStep() }
            let out = NSTemporaryDirectory() + "sae-interop-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: out) }
            try SAELensExport.write(trainer.parameters, architecture: architecture, k: 4,
                                    description: .init(hookName: "blocks.0.hook_resid_post", hookLayer: 0, modelName: "synthetic"),
                                    to: out)
            let sae = try SAE.load(path: out, backend: backend)
            XCTAssertEqual(sae.dIn, 16)
            XCTAssertEqual(sae.dSAE, 48)

            let x = try source.rows(Array(0..<50))
            let codes = try backend.read(sae.encode(backend.matrix(x, rows: 50, cols: 16)))
            let reconstruction = try backend.read(sae.decode(backend.matrix(codes, rows: 50, cols: 48)))

            // The trainer's view: normalised rows, its own parameters, reconstruction mapped back.
            let p = trainer.parameters, c = p.inputScale, xn = p.normalized(x)
            XCTAssertEqual(p.dimensionScale.isEmpty, normalization == .scalar)
            var pre = [Float](repeating: 0, count: 50 * 48)
            for i in 0..<50 { for j in 0..<48 {
                var v = p.encoderBias[j]
                for q in 0..<16 { v += (xn[i * 16 + q] - p.decoderBias[q]) * p.encoder[j * 16 + q] }
                pre[i * 48 + j] = v
            } }
            let objective = SAEObjective(backend: backend, settings: settings)
            let expectedCodes = objective.activate(pre, rows: 50, width: 48, threshold: p.logThreshold.map { exp($0) }).acts
            var expected = [Float](repeating: 0, count: 50 * 16)
            for i in 0..<50 { for q in 0..<16 {
                var v = p.decoderBias[q]
                for j in 0..<48 { v += expectedCodes[i * 48 + j] * p.decoder[j * 16 + q] }
                let (mu, u) = normalization == .scalar ? (Float(0), Float(1)) : (p.inputShift[q], p.dimensionScale[q])
                expected[i * 16 + q] = mu + v / (c * u)
            } }
            let scale = x.map(abs).max()!
            // The export folds the input scale into the activations (decoder rows keep unit norm).
            for (a, b) in zip(codes, expectedCodes.map { $0 / c }) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "\(architecture) \(normalization) codes") }
            for (a, b) in zip(reconstruction, expected) {
                XCTAssertEqual(a, b, accuracy: 1e-4 * scale, "\(architecture) \(normalization) reconstruction")
            }
          }
        }
    }
}
