import CPUBackend
import Interpretability
import LanternCore
import Models
import XCTest
@testable import Training

/// Training on the tiny fixtures (bytes as token ids) lowers KL(final ‖ lens) below the logit lens
/// at every layer but the last, on text it was not trained on.
final class TunedLensTrainingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// Sentences from a small word list; different seeds give different (held-out) text.
    static func text(seed: UInt64, sentences: Int) -> String {
        let words = ["the", "river", "light", "moves", "under", "a", "quiet", "city", "where", "people", "read", "old",
                     "letters", "and", "numbers", "change", "slowly", "between", "green", "hills", "of", "winter"]
        var rng = SeededGenerator(seed: seed)
        return (0..<sentences).map { _ in
            (0..<Int.random(in: 5...12, using: &rng)).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ").capitalized + ".\n\n"
        }.joined()
    }

    func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "tuned-lens-\(UUID().uuidString).txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func packer(_ path: String, length: Int) throws -> ContextPacker {
        ContextPacker(corpus: try TextCorpus(files: [path]), length: length, bos: 2) { $0.utf8.map { Int32($0) } }
    }

    func testTrainingLowersHeldOutKLBelowTheLogitLens() throws {
        let train = try file(Self.text(seed: 1, sentences: 400)), heldOut = try file(Self.text(seed: 2, sentences: 60))
        for name in ["gemma2_tiny", "gemma3_tiny"] {
            let model = try Transformer(directory: Self.fixtures.appendingPathComponent(name).path, backend: CPUBackend())
            var lens = TunedLens(for: model, name: name)
            let trainer = try TunedLensTrainer(model: model, packer: try packer(train, length: 32),
                                               options: .init(tokens: 8000, context: 32, contextsPerStep: 4, learningRate: 1e-2))
            var steps: [TunedLensTrainer.Step] = []
            try trainer.train(&lens) { steps.append($0) }
            XCTAssertEqual(steps.count, trainer.options.steps)
            XCTAssertEqual(steps.last!.tokens, steps.count * 4 * 31)

            var contexts: [[Int32]] = []
            try packer(heldOut, length: 32).forEachContext { _, c in contexts.append(c); return contexts.count < 24 }
            let report = try LensDivergence.evaluate(model, contexts: contexts, tuned: lens)
            let tuned = report.tunedKL!
            let layers = model.config.layerCount
            for row in 0..<layers {
                XCTAssertLessThan(tuned[row], report.logitKL[row], "\(name) row \(report.rowLabels[row])")
            }
            // The last row is the model's own output: no translator, no divergence.
            XCTAssertEqual(report.logitKL[layers], 0, accuracy: 1e-5)
            XCTAssertEqual(tuned[layers], 0, accuracy: 1e-5)
            print("\(name) held-out KL per row, logit → tuned: "
                  + (0...layers).map { String(format: "%.3f→%.3f", report.logitKL[$0], tuned[$0]) }.joined(separator: " "))
        }
    }

    /// Saved and read back: f32 exactly; f16 within its rounding.
    func testSaveAndLoadRoundTrip() throws {
        let model = try Transformer(directory: Self.fixtures.appendingPathComponent("gemma3_tiny").path, backend: CPUBackend())
        var lens = TunedLens(for: model, name: "gemma3_tiny")
        var rng = SeededGenerator(seed: 4)
        for row in 0..<lens.config.layerCount {
            lens.weights[row] = lens.weights[row].map { _ in Float.random(in: -0.1...0.1, using: &rng) }
            lens.biases[row] = lens.biases[row].map { _ in Float.random(in: -1...1, using: &rng) }
        }
        for dtype in [DType.f32, .f16] {
            let dir = NSTemporaryDirectory() + "tuned-lens-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try lens.save(directory: dir, dtype: dtype, extra: ["lantern_training": ["tokens": 1]])
            let back = try TunedLens.load(directory: dir)
            XCTAssertEqual(back.config, lens.config)
            for row in 0..<lens.config.layerCount {
                if dtype == .f32 {
                    XCTAssertEqual(back.weights[row], lens.weights[row])
                    XCTAssertEqual(back.biases[row], lens.biases[row])
                } else {
                    XCTAssertEqual(back.weights[row], lens.weights[row].map { Float(Float16($0)) })
                    XCTAssertEqual(back.biases[row], lens.biases[row].map { Float(Float16($0)) })
                }
            }
        }
    }
}
