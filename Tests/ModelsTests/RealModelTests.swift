import CPUBackend
import Formats
import Foundation
import LanternCore
import Models
import XCTest

/// The real models (cached GGUFs) against transformers' goldens (tools/make_real_goldens.py):
/// the same 20 greedy tokens, the same top-20 order, logits within 1e-2.
///
/// A model that is not cached is skipped with a message, unless LANTERN_REQUIRE_MODELS is set
/// (CI fetches them), in which case its absence fails the test.
final class RealModelTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/real")
    static let tolerance: Float = 1e-2

    func testGemma3_270M() throws { try check("gemma3-270m") }
    func testSmolLM2() throws { try check("smollm2") }

    func modelPath(_ name: String) throws -> String {
        if let path = ModelStore().cachedPath(name) { return path }
        let message = "model '\(name)' is not cached in \(ModelStore().modelsDirectory) (fetch it with ModelStore().fetch / `lantern models`)"
        if let required = ProcessInfo.processInfo.environment["LANTERN_REQUIRE_MODELS"], !required.isEmpty, required != "0" {
            XCTFail("LANTERN_REQUIRE_MODELS is set: \(message)")
            throw XCTSkip(message)
        }
        print("SKIP RealModelTests: \(message)")
        throw XCTSkip(message)
    }

    func check(_ name: String) throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("\(name).json"))
        let golden = try JSONDecoder().decode(RealModelGolden.self, from: data)
        let path = try modelPath(name)
        let model = try Transformer(gguf: path, backend: CPUBackend())
        let backend = model.backend
        var worst: Float = 0
        for c in golden.cases {
            let ids = c.ids.map(Int32.init)
            let cache = try KVCache(model: model, capacity: ids.count + c.greedy.count + 1)
            let logits = try backend.read(try XCTUnwrap(try model.forward(ids, cache: cache, logits: .last)))
            XCTAssertEqual(logits.count, model.config.vocabSize)
            let top = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(c.top_ids.count)
            XCTAssertEqual(Array(top), c.top_ids, "\(name) '\(c.prompt)': top-\(c.top_ids.count) order")
            for (id, want) in zip(c.top_ids, c.top_logits) {
                let diff = abs(logits[id] - want)
                worst = max(worst, diff)
                XCTAssertLessThanOrEqual(diff, Self.tolerance, "\(name) '\(c.prompt)': logit of token \(id): \(logits[id]) vs \(want)")
            }
            // Greedy continuation with the KV cache.
            var generated: [Int] = []
            var next = top.first!
            for step in 0..<c.greedy.count {
                generated.append(next)
                if step + 1 == c.greedy.count { break }
                let row = try backend.read(try XCTUnwrap(try model.forward([Int32(next)], cache: cache, logits: .last)))
                next = row.indices.max { row[$0] < row[$1] }!
            }
            XCTAssertEqual(generated, c.greedy, "\(name) '\(c.prompt)': greedy continuation")
        }
        print("RealModelTests \(name): \(golden.cases.count) prompts, top-20 order and greedy tokens match; worst top-20 logit difference \(worst)")
    }
}

private struct RealModelGolden: Decodable {
    struct Case: Decodable {
        let prompt: String
        let ids: [Int]
        let top_ids: [Int]
        let top_logits: [Float]
        let greedy: [Int]
    }
    let model: String
    let cases: [Case]
}
