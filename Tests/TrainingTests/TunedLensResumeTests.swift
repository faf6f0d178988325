import CPUBackend
import Formats
import Interpretability
import LanternCore
import Models
import XCTest
@testable import Training

/// A tuned-lens run stopped after some steps and resumed from its checkpoint ends with the same
/// translators, bit for bit, as the run left alone; a checkpoint of other options or shapes is
/// refused in one line.
final class TunedLensResumeTests: XCTestCase {
    struct Stop: Error {}

    func testResumedRunEqualsTheUninterruptedOne() throws {
        let dir = NSTemporaryDirectory() + "lens-resume-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = dir + "/train.txt"
        try TunedLensTrainingTests.text(seed: 4, sentences: 200).write(toFile: corpus, atomically: true, encoding: .utf8)
        func packer() throws -> ContextPacker {
            ContextPacker(corpus: try TextCorpus(files: [corpus]), length: 24, bos: 2) { $0.utf8.map { Int32($0) } }
        }
        let model = try Transformer(directory: TunedLensTrainingTests.fixtures.appendingPathComponent("gemma2_tiny").path, backend: CPUBackend())
        let options = TunedLensTrainer.Options(tokens: 1200, context: 24, contextsPerStep: 3, learningRate: 1e-2, contextStride: 2)
        let trainer = try TunedLensTrainer(model: model, packer: try packer(), options: options)
        XCTAssertGreaterThan(options.steps, 6)

        var whole = TunedLens(for: model, name: "t")
        try trainer.train(&whole)

        // Stopped after step 5 (a cancel: the checkpoint is saved then), then resumed from the file.
        let path = dir + "/checkpoint.safetensors"
        var first = TunedLens(for: model, name: "t")
        XCTAssertThrowsError(try trainer.train(&first, checkpoint: (path, 4)) { if $0.step == 5 { throw Stop() } })
        let saved = try TunedLensCheckpoint.load(path: path)
        XCTAssertEqual(saved.step, 5)
        var resumed = TunedLens(for: model, name: "t")
        var steps: [Int] = []
        try trainer.train(&resumed, resume: saved, checkpoint: (path, 4)) { steps.append($0.step) }
        XCTAssertEqual(steps, Array(6...options.steps))
        XCTAssertEqual(resumed.weights, whole.weights)
        XCTAssertEqual(resumed.biases, whole.biases)
        XCTAssertEqual(try TunedLensCheckpoint.load(path: path).step, options.steps, "saved after the last step")

        // Other options, another model's width, a damaged tensor: one line each.
        var other = options
        other.learningRate = 2e-2
        XCTAssertThrowsError(try TunedLensTrainer(model: model, packer: try packer(), options: other).train(&resumed, resume: saved)) {
            XCTAssertTrue("\($0)".contains("other options"), "\($0)")
        }
        var narrow = saved
        narrow.biases[0].removeLast()
        XCTAssertThrowsError(try trainer.train(&resumed, resume: narrow)) { XCTAssertTrue("\($0)".contains("translators of width"), "\($0)") }
        let file = try SafetensorsFile(path: path)
        var entries: [SafetensorsWriter.Entry] = []
        for name in file.tensorNames {
            var values = try file.tensor(name).floats()
            if name == "1.bias.adam_v" { values.removeLast() }
            entries.append(.init(name: name, shape: [values.count], values: values))
        }
        let damaged = dir + "/damaged.safetensors"
        try SafetensorsWriter.write(entries, metadata: file.metadata, to: damaged)
        XCTAssertThrowsError(try TunedLensCheckpoint.load(path: damaged)) {
            XCTAssertTrue("\($0)".contains("1.bias.adam_v") && !"\($0)".contains("\n"), "\($0)")
        }
    }
}
