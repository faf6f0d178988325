import CPUBackend
import Formats
import XCTest
@testable import Training

/// A run stopped at a checkpoint and resumed ends with the parameters of an uninterrupted run,
/// bit for bit; and the SAELens output round-trips.
final class ResumeTests: XCTestCase {
    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "sae-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func source() -> InMemoryActivations {
        let data = SyntheticRecoveryTests.sparseData(rows: 700, width: 16, features: 24, active: 3, seed: 5)
        return InMemoryActivations(values: data.rows.map { $0 * 3 + 0.5 }, width: 16)
    }

    func assertResumesIdentically(_ settings: SAETrainingSettings) throws {
        let backend = CPUBackend()
        let whole = try SAETrainer(settings: settings, source: source(), backend: backend)
        while !whole.isFinished { try whole.trainStep() }

        let path = try directory() + "/checkpoint.safetensors"
        let first = try SAETrainer(settings: settings, source: source(), backend: backend)
        for _ in 0..<(whole.totalSteps / 2) { try first.trainStep() }
        try first.state.save(path: path)
        let resumed = try SAETrainer.resume(checkpoint: path, source: source(), backend: backend)
        assertSame(resumed.state, first.state, "restored")
        while !resumed.isFinished { try resumed.trainStep() }
        assertSame(resumed.state, whole.state, "\(settings.architecture) resumed vs uninterrupted")
    }

    /// Names the parts that differ (the whole state is too long to print).
    func assertSame(_ a: SAETrainerState, _ b: SAETrainerState, _ what: String, line: UInt = #line) {
        XCTAssertEqual(a.settings, b.settings, what, line: line)
        XCTAssertEqual(a.step, b.step, what, line: line)
        XCTAssertEqual(a.sparsityCoefficient, b.sparsityCoefficient, what, line: line)
        XCTAssertTrue(a.rowsSinceFired == b.rowsSinceFired, "\(what): dead counters", line: line)
        XCTAssertTrue(a.adam == b.adam, "\(what): Adam state", line: line)
        for (x, y) in zip(a.parameters.tensors, b.parameters.tensors) {
            XCTAssertTrue(x.values == y.values, "\(what): \(x.name)", line: line)
        }
        XCTAssertEqual(a.parameters.inputScale, b.parameters.inputScale, what, line: line)
        XCTAssertEqual(a.parameters.inputShift, b.parameters.inputShift, what, line: line)
        XCTAssertEqual(a.parameters.dimensionScale, b.parameters.dimensionScale, what, line: line)
    }

    func testTopKResumesIdentically() throws {
        // A short dead horizon, so that the AuxK loss and its counters take part.
        try assertResumesIdentically(SAETrainingSettings(architecture: .topk, width: 40, k: 4, batchSize: 64, tokens: 64 * 30,
                                                         deadAfterTokens: 128, seed: 3, inputWidth: 16))
    }

    func testPerDimensionNormalisedTopKResumesIdentically() throws {
        try assertResumesIdentically(SAETrainingSettings(architecture: .topk, width: 40, k: 4, batchSize: 64, tokens: 64 * 30,
                                                         deadAfterTokens: 128, seed: 5, normalization: .perDimension,
                                                         inputWidth: 16))
    }

    func testJumpReLUWithL0TargetResumesIdentically() throws {
        try assertResumesIdentically(SAETrainingSettings(architecture: .jumprelu, width: 40, targetL0: 4, batchSize: 64,
                                                         tokens: 64 * 30, bandwidth: 0.05, seed: 4, inputWidth: 16))
    }

    func testSAELensOutputRoundTrips() throws {
        let backend = CPUBackend()
        for architecture in SAEArchitecture.allCases {
            let settings = SAETrainingSettings(architecture: architecture, width: 40, k: 4, targetL0: 4, batchSize: 64,
                                               tokens: 64 * 10, bandwidth: 0.05, seed: 2, inputWidth: 16)
            let trainer = try SAETrainer(settings: settings, source: source(), backend: backend)
            while !trainer.isFinished { try trainer.trainStep() }
            let out = try directory()
            try SAELensExport.write(trainer.parameters, architecture: architecture, k: 4,
                                    description: .init(hookName: "blocks.1.hook_resid_post", hookLayer: 1, modelName: "tiny"), to: out)
            let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/cfg.json"))) as! [String: Any]
            XCTAssertEqual(cfg["d_in"] as? Int, 16)
            XCTAssertEqual(cfg["d_sae"] as? Int, 40)
            XCTAssertEqual(cfg["architecture"] as? String, architecture.saeLensName)
            XCTAssertEqual(cfg["apply_b_dec_to_input"] as? Bool, true)
            XCTAssertEqual(cfg["hook_layer"] as? Int, 1)
            let file = try SafetensorsFile(path: out + "/sae_weights.safetensors")
            XCTAssertEqual(Set(file.tensorNames), Set(["W_enc", "W_dec", "b_enc", "b_dec"] + (architecture == .jumprelu ? ["threshold"] : [])))
            XCTAssertEqual(try file.tensor("W_enc").shape, [16, 40])
            XCTAssertEqual(try file.tensor("W_dec").shape, [40, 16])

            // SAELens's encode/decode on raw rows = the trainer's on scaled rows, unscaled.
            let x = try source().rows([0, 1, 2])
            let (wEnc, wDec) = (try file.tensor("W_enc").floats(), try file.tensor("W_dec").floats())
            let (bEnc, bDec) = (try file.tensor("b_enc").floats(), try file.tensor("b_dec").floats())
            let threshold = architecture == .jumprelu ? try file.tensor("threshold").floats() : []
            let objective = SAEObjective(backend: backend, settings: settings)
            let p = trainer.parameters
            let scaled = try objective.evaluate(p, batch: x.map { $0 * p.inputScale }, rows: 3, sparsityCoefficient: 0)
            var squaredError = 0.0, squares = 0.0
            for i in 0..<3 {
                var pre = [Float](repeating: 0, count: 40)
                for j in 0..<40 {
                    pre[j] = bEnc[j]
                    for c in 0..<16 { pre[j] += (x[i * 16 + c] - bDec[c]) * wEnc[c * 40 + j] }
                }
                let acts = objective.activate(pre, rows: 1, width: 40, threshold: threshold).acts
                for c in 0..<16 {
                    var v = bDec[c]
                    for j in 0..<40 { v += acts[j] * wDec[j * 16 + c] }
                    squaredError += Double((v - x[i * 16 + c]) * (v - x[i * 16 + c]))
                    squares += Double(x[i * 16 + c] * x[i * 16 + c])
                }
            }
            // Both views reconstruct equally well (the same SAE, up to rounding).
            let rawRelativeError = squaredError / squares
            let scaledRelativeError = scaled.reconstructionLoss * SAEObjective.centeredSquares(x.map { $0 * p.inputScale }, rows: 3, width: 16)
                / x.reduce(0.0) { $0 + Double($1 * p.inputScale) * Double($1 * p.inputScale) }
            XCTAssertEqual(rawRelativeError, scaledRelativeError, accuracy: 1e-4 + 1e-3 * scaledRelativeError, "\(architecture)")
        }
    }
}
