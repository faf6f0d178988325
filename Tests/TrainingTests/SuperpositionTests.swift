import CPUBackend
import Foundation
import LanternCore
import Models
import XCTest
@testable import Training

/// The toy models of superposition: the loss, gradients and geometry against numpy goldens
/// (tools/make_superposition_fixtures.py), then the paper's signature results from training.
final class SuperpositionTests: XCTestCase {
    let backend = CPUBackend()

    struct Case: Decodable {
        let name: String
        let features, hidden, rows: Int
        let W, b, x, importance: [Float]
        let loss: Double
        let grad_W, grad_b, norms, superposition: [Float]
        let features_per_dimension: Double
    }

    func cases() throws -> [Case] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/superposition/gradients.json")
        struct File: Decodable { let cases: [Case] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }

    func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        let scale = max(b.map(abs).max() ?? 1, 1)
        for (i, (x, y)) in zip(a, b).enumerated() {
            XCTAssertEqual(x, y, accuracy: tolerance * scale, "\(what)[\(i)]")
        }
    }

    func testLossAndGradientsMatchNumpy() throws {
        for c in try cases() {
            let model = ToyModel(features: c.features, hidden: c.hidden, weights: c.W, bias: c.b)
            let (loss, gradW, gradB) = try model.lossAndGradients(c.x, rows: c.rows, importance: c.importance, backend: backend)
            XCTAssertEqual(loss, c.loss, accuracy: 1e-5 * max(1, c.loss), c.name)
            XCTAssertEqual(try model.loss(c.x, rows: c.rows, importance: c.importance, backend: backend), c.loss,
                           accuracy: 1e-5 * max(1, c.loss), c.name)
            assertClose(gradW, c.grad_W, tolerance: 2e-5, "\(c.name) ∂L/∂W")
            assertClose(gradB, c.grad_b, tolerance: 2e-5, "\(c.name) ∂L/∂b")
        }
    }

    func testGeometryMatchesNumpy() throws {
        for c in try cases() {
            let g = try ToyModelGeometry(ToyModel(features: c.features, hidden: c.hidden, weights: c.W, bias: c.b), backend: backend)
            assertClose(g.norms, c.norms, tolerance: 1e-5, "\(c.name) norms")
            assertClose(g.superposition, c.superposition, tolerance: 1e-5, "\(c.name) superposition")
            XCTAssertEqual(g.frobeniusPerDimension, c.features_per_dimension, accuracy: 1e-5, c.name)
        }
    }

    /// Dense features (S = 0), importance 0.9ⁱ: the model keeps the two most important features
    /// at right angles with unit norm and drops the other three (the paper's "no superposition").
    func testDenseFeaturesKeepTheTwoMostImportantOrthogonal() throws {
        let run = try ToyModelTrainer.train(ToyModelSettings(sparsity: 0, steps: 6000, seed: 0), backend: backend)
        let g = run.geometry
        XCTAssertEqual(g.norms[0], 1, accuracy: 0.05, "‖W_0‖ in \(g.norms)")
        XCTAssertEqual(g.norms[1], 1, accuracy: 0.05, "‖W_1‖ in \(g.norms)")
        XCTAssertLessThan(abs(g.cosine(0, 1)), 0.05, "W_0 and W_1 should be orthogonal")
        for i in 2..<5 { XCTAssertLessThan(g.norms[i], 0.1, "feature \(i) should be dropped: \(g.norms)") }
        XCTAssertEqual(g.represented, 2)
        XCTAssertEqual(g.frobeniusPerDimension, 1, accuracy: 0.05)
        // The kept features share nothing; the first curve point is above the last (it learned).
        XCTAssertLessThan(g.superposition[0], 0.05)
        XCTAssertGreaterThan(run.lossCurve.first!.loss, run.lossCurve.last!.loss)
    }

    /// Sparse features (S = 0.98): all five fit into two dimensions as a regular pentagon.
    func testSparseFeaturesFormARegularPentagon() throws {
        let run = try ToyModelTrainer.train(ToyModelSettings(sparsity: 0.98, seed: 0), backend: backend)
        let g = run.geometry
        // ≈ 1: slightly above, since the negative bias that filters interference also shrinks x̂.
        for i in 0..<5 { XCTAssertEqual(g.norms[i], 1.1, accuracy: 0.1, "‖W_\(i)‖ in \(g.norms)") }
        XCTAssertLessThan((g.norms.max()! - g.norms.min()!) / g.norms.max()!, 0.05, "a regular pentagon has equal sides: \(g.norms)")
        let angles = try XCTUnwrap(run.model.angles).sorted()
        let gaps = (0..<5).map { i in i == 4 ? angles[0] + 360 - angles[4] : angles[i + 1] - angles[i] }
        for gap in gaps { XCTAssertEqual(gap, 72, accuracy: 3, "angles between neighbours: \(gaps)") }
        XCTAssertEqual(g.represented, 5)
        // Each feature now overlaps its neighbours: superposition well above 0 for every one.
        for s in g.superposition { XCTAssertGreaterThan(s, 1) }
        for b in run.model.bias { XCTAssertLessThan(b, 0, "a negative bias filters the interference") }
    }

    /// Features per dimension (‖W‖_F² / m) rises with sparsity: 1 when dense, 2 or more for the
    /// antipodal pairs of middling sparsity, about 5/2 and above for the pentagon.
    func testFeaturesPerDimensionRiseWithSparsity() throws {
        let runs = try ToyModelTrainer.sweep(ToyModelSettings(seed: 0), sparsities: [0, 0.8, 0.98], backend: backend)
        let values = runs.map(\.geometry.frobeniusPerDimension)
        XCTAssertEqual(values[0], 1, accuracy: 0.1, "\(values)")
        XCTAssertGreaterThan(values[1], values[0] + 0.5, "\(values)")
        XCTAssertGreaterThan(values[2], values[1] + 0.3, "\(values)")
        XCTAssertGreaterThan(values[2], 2.5, "\(values)")
        XCTAssertEqual(runs.map(\.settings.sparsity), [0, 0.8, 0.98])
    }

    func testSameSeedSameModel() throws {
        let settings = ToyModelSettings(sparsity: 0.5, steps: 50, batchSize: 64, seed: 3)
        let a = try ToyModelTrainer.train(settings, backend: backend), b = try ToyModelTrainer.train(settings, backend: backend)
        XCTAssertEqual(a.model, b.model)
        var other = settings
        other.seed = 4
        XCTAssertNotEqual(try ToyModelTrainer.train(other, backend: backend).model, a.model)
        // Training a sweep's models on several threads changes nothing.
        let sweep = try ToyModelTrainer.sweep(settings, sparsities: [0.2, 0.5, 0.9], backend: backend, concurrently: true)
        XCTAssertEqual(sweep[1].model, a.model)
        XCTAssertEqual(sweep.map(\.settings.sparsity), [0.2, 0.5, 0.9])
        // With restarts, each point keeps its lowest-loss seed.
        let best = try ToyModelTrainer.sweep(settings, sparsities: [0.5], restarts: 2, backend: backend, concurrently: true)[0]
        XCTAssertEqual(best.loss, min(a.loss, try ToyModelTrainer.train(other, backend: backend).loss))
    }

    func testSampledBatchHasTheAskedSparsity() {
        var random = SeededGenerator(seed: 1)
        let x = ToyModel.sampleBatch(rows: 4000, features: 5, sparsity: 0.9, random: &random)
        let present = x.filter { $0 != 0 }
        XCTAssertEqual(Double(present.count) / Double(x.count), 0.1, accuracy: 0.01)
        XCTAssertTrue(present.allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertEqual(Double(present.reduce(0, +)) / Double(present.count), 0.5, accuracy: 0.03)
    }

    func testBadSettingsFailWithOneLine() {
        let bad: [(ToyModelSettings, String)] = [
            (ToyModelSettings(features: 0), "features n = 0"),
            (ToyModelSettings(hidden: 0), "hidden dimension m = 0"),
            (ToyModelSettings(sparsity: 1), "sparsity S = 1.0 must be in [0, 1)"),
            (ToyModelSettings(sparsity: -0.1), "sparsity S = -0.1"),
            (ToyModelSettings(importanceDecay: 0), "importance decay r = 0.0"),
            (ToyModelSettings(steps: 0), "steps = 0"),
            (ToyModelSettings(batchSize: 0), "batch size = 0"),
            (ToyModelSettings(learningRate: -1), "learning rate = -1.0"),
            (ToyModelSettings(features: 1 << 20, batchSize: 1 << 10), "exceeds 2^26"),
        ]
        for (settings, expected) in bad {
            XCTAssertThrowsError(try ToyModelTrainer.train(settings, backend: backend)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(expected), "'\(text)' lacks '\(expected)'")
                XCTAssertFalse(text.contains("\n"))
            }
        }
    }
}
