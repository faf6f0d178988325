import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
import Models
@testable import Interpretability

/// The tuned lens as Lantern reads it: the committed fixture (tools/make_tuned_lens_fixtures.py)
/// applied to transformers' own residuals against numpy, errors, and the answer's rank per layer.
final class TunedLensTests: XCTestCase {
    func testFixtureMatchesNumpy() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let lens = try TunedLens.load(directory: Fixtures.path("tuned_lens/gemma2_tiny"))
        XCTAssertEqual(lens.config.layerCount, 4)
        XCTAssertEqual(lens.config.dModel, 64)
        try lens.check(against: model.config)
        let golden = try SafetensorsFile(path: Fixtures.path("tuned_lens/gemma2_tiny_golden.safetensors"))
        let reference = try Fixtures.reference("gemma2_tiny")
        let hooks = LogitLens.residualHooks(layers: 4)
        var worst: Float = 0
        for row in 0..<4 {
            let host = try reference.tensor("0:\(hooks[row])")
            let residual = try model.backend.tensor(try host.floats(), shape: host.shape)
            let translated = try model.backend.read(try lens.translate(residual, row: row, backend: model.backend))
            let logits = try model.backend.read(try lens.logits(model, residual: residual, row: row))
            let e1 = Fixtures.relativeError(translated, try golden.tensor("\(row):translated").floats())
            let e2 = Fixtures.relativeError(logits, try golden.tensor("\(row):logits").floats())
            XCTAssertLessThanOrEqual(e1, 1e-5, "row \(row) translated")
            XCTAssertLessThanOrEqual(e2, 1e-4, "row \(row) logits")
            worst = max(worst, e1, e2)
        }
        // The last row has no translator: it is the logit lens (the model's own head).
        let last = try reference.tensor("0:blocks.3.hook_resid_post")
        let residual = try model.backend.tensor(try last.floats(), shape: last.shape)
        XCTAssertEqual(try model.backend.read(try lens.logits(model, residual: residual, row: 4)),
                       try model.backend.read(try LogitLens.logits(model, residual: residual)))
        print("tuned lens fixture: worst relative error vs numpy \(worst)")

        // Through LogitLens.run: the tuned cells' top-1 probabilities are the goldens' softmax maxima.
        let tokens = try Fixtures.sequences("gemma2_tiny")[0]
        let result = try LogitLens.run(model, tokens: tokens, topK: 2, tuned: lens)
        for row in 0..<4 {
            let expected = try golden.tensor("\(row):logits").floats()
            for p in tokens.indices {
                let probs = LogitLens.softmax(Array(expected[(p * 256)..<((p + 1) * 256)]))
                XCTAssertEqual(result.tunedCells![row][p].top[0].probability, probs.max()!, accuracy: 1e-4)
            }
        }
        XCTAssertEqual(result.tunedCells![4].map { $0.top[0].token }, result.cells[4].map { $0.top[0].token })
    }

    func testBadLensFailsWithClearErrors() throws {
        let gemma3 = try Fixtures.model("gemma3_tiny")
        let lens = try TunedLens.load(directory: Fixtures.path("tuned_lens/gemma2_tiny"))
        XCTAssertThrowsError(try LogitLens.run(gemma3, tokens: [2, 5], tuned: lens)) {
            XCTAssertTrue("\($0)".contains("num_hidden_layers: 4, but the model has 7 layers"), "\($0)")
        }
        let dir = NSTemporaryDirectory() + "tuned-lens-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try TunedLens.load(directory: dir)) { XCTAssertTrue("\($0)".contains("config.json"), "\($0)") }
        try #"{"d_model": 64, "num_hidden_layers": 4, "lens_type": "linear_tuned_lens"}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/params.pt"))
        XCTAssertThrowsError(try TunedLens.load(directory: dir)) { XCTAssertTrue("\($0)".contains("convert it with tools/convert_tuned_lens.py"), "\($0)") }
        try #"{"d_model": 32, "num_hidden_layers": 4}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Fixtures.path("tuned_lens/gemma2_tiny/params.safetensors"), toPath: dir + "/params.safetensors")
        XCTAssertThrowsError(try TunedLens.load(directory: dir)) { XCTAssertTrue("\($0)".contains("0.weight: shape [64, 64], expected [32, 32]"), "\($0)") }
    }

    /// Every malformed lens folder is one line naming the file and the field, before anything is
    /// allocated from the config's sizes: loose JSON types, tensors the config does not imply,
    /// non-finite or absurd weights, and a d_model the file cannot hold.
    func testMalformedLensFoldersAreRefused() throws {
        let dir = NSTemporaryDirectory() + "tuned-lens-malformed-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let d = 4, layers = 2
        func lens(weights: [Float]? = nil, bias: Bool = true, extra: [SafetensorsWriter.Entry] = []) -> [SafetensorsWriter.Entry] {
            (0..<layers).flatMap { i -> [SafetensorsWriter.Entry] in
                [.init(name: "\(i).weight", shape: [d, d], values: weights ?? [Float](repeating: 0.01, count: d * d))]
                    + (bias ? [.init(name: "\(i).bias", shape: [d], values: [Float](repeating: 0, count: d))] : [])
            } + extra
        }
        let cases: [(config: String, tensors: [SafetensorsWriter.Entry], expected: String)] = [
            (#"{"d_model": 4, "num_hidden_layers": 2, "bias": 1}"#, lens(), "bias: expected true or false, got 1"),
            (#"{"d_model": 4, "num_hidden_layers": 2, "lens_type": 7}"#, lens(), "lens_type"),
            (#"{"d_model": 4, "num_hidden_layers": 2, "lens_type": "affine"}"#, lens(), "'affine' is not supported"),
            (#"{"d_model": 4, "num_hidden_layers": 2, "bias": false}"#, lens(), "0.bias: present, but config.json says bias: false"),
            (#"{"d_model": 4, "num_hidden_layers": 2}"#, lens(extra: [.init(name: "unembed.weight", shape: [1], values: [0])]),
             "unembed.weight: not a tensor of a tuned lens"),
            (#"{"d_model": 4, "num_hidden_layers": 2}"#, lens(extra: [.init(name: "2.weight", shape: [d, d], values: [Float](repeating: 0, count: 16))]),
             "more translators than num_hidden_layers"),
            (#"{"d_model": 4, "num_hidden_layers": 2}"#, lens(weights: [0, 0, .nan] + [Float](repeating: 0, count: 13)), "0.weight: holds nan at index 2"),
            (#"{"d_model": 4, "num_hidden_layers": 2}"#, lens(weights: [Float](repeating: -.infinity, count: 16)), "holds -inf"),
            (#"{"d_model": 4, "num_hidden_layers": 2}"#, lens(weights: [Float](repeating: 3e38, count: 16)), "too large"),
            (#"{"d_model": 1048576, "num_hidden_layers": 2}"#, lens(), "0.weight: shape [4, 4], expected [1048576, 1048576]"),
            (#"{"d_model": 4, "num_hidden_layers": 2, "base_model_name_or_path": 3}"#, lens(), "base_model_name_or_path"),
        ]
        for (config, tensors, expected) in cases {
            try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            try SafetensorsWriter.write(tensors, to: dir + "/params.safetensors")
            XCTAssertThrowsError(try TunedLens.load(directory: dir), config) {
                XCTAssertTrue("\($0)".contains(expected), "\(config): '\($0)' lacks '\(expected)'")
            }
        }
        // The same folder, well formed, loads (with and without biases).
        try #"{"d_model": 4, "num_hidden_layers": 2, "bias": false}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try SafetensorsWriter.write(lens(bias: false), to: dir + "/params.safetensors")
        XCTAssertEqual(try TunedLens.load(directory: dir).biases, [[Float]](repeating: [0, 0, 0, 0], count: 2))
    }

    func testAnswerAppearsAtTheFirstLayerFromWhichItStaysTop() {
        func answer(_ ranks: [Int]) -> LensAnswer { LensAnswer(token: 0, given: true, ranks: ranks, probabilities: ranks.map { _ in 0 }) }
        XCTAssertEqual(answer([9, 1, 2, 1, 1]).firstTopRow, 3)
        XCTAssertEqual(answer([9, 1, 2, 1, 1]).firstTopRowAny, 1)
        XCTAssertEqual(answer([1, 1, 1]).firstTopRow, 0)
        XCTAssertNil(answer([1, 2]).firstTopRow)
        XCTAssertEqual(answer([1, 2]).firstTopRowAny, 0)
    }

    /// Without a target the answer is the model's own top-1 at the last position, rank 1 at the
    /// last row; with one, its ranks are the cells' target ranks at the last position.
    func testAnswerRanksOnTheFixtures() throws {
        for name in Fixtures.modelNames {
            let model = try Fixtures.model(name)
            let tokens = try Fixtures.sequences(name)[1]
            let plain = try LogitLens.run(model, tokens: tokens, topK: 1)
            XCTAssertEqual(plain.answer.token, plain.cells.last!.last!.top[0].token)
            XCTAssertFalse(plain.answer.given)
            XCTAssertEqual(plain.answer.ranks.last, 1)
            XCTAssertNotNil(plain.answer.firstTopRow)
            for row in plain.cells.indices where plain.answer.ranks[row] == 1 {
                XCTAssertEqual(plain.cells[row].last!.top[0].token, plain.answer.token, "\(name) row \(row)")
            }
            let targeted = try LogitLens.run(model, tokens: tokens, topK: 1, target: 7)
            XCTAssertTrue(targeted.answer.given)
            XCTAssertEqual(targeted.answer.ranks, targeted.cells.map { $0.last!.targetRank! })
            XCTAssertEqual(targeted.answer.probabilities, targeted.cells.map { $0.last!.targetProbability! })
        }
    }
}
