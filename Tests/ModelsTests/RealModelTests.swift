import CPUBackend
import Formats
import Foundation
import LanternCore
import Models
import XCTest
import TestSupport

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
    func testGemma3_270MPassage() throws { try checkPassage("gemma3-270m") }
    func testSmolLM2Passage() throws { try checkPassage("smollm2") }

    func check(_ name: String) throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("\(name).json"))
        let golden = try JSONDecoder().decode(RealModelGolden.self, from: data)
        let path = try requireModel(name)
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

extension RealModelTests {
    /// 128 tokens of one passage in one pass, the logits of every position: the many-row products
    /// (the packed vector kernel; AMX too, where the CPU has it) against transformers' top-10 at
    /// each position. The short prompts above run on the decode path. Per position: each golden
    /// token's logit within 1e-2, the k-th largest logit within 1e-2 of the golden k-th (no other
    /// token crept in), and the same top token unless the golden's top two are within 1e-3.
    func checkPassage(_ name: String) throws {
        let golden = try JSONDecoder().decode(RealModelGolden.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("\(name).json")))
        let passage = try XCTUnwrap(golden.passage, "\(name).json has no passage: run tools/make_real_goldens.py --passage-only")
        let path = try requireModel(name)
        let backend = CPUBackend()
        let model = try Transformer(gguf: path, backend: backend)
        let vocab = model.config.vocabSize
        for amx in backend.usesAMX ? [true, false] : [false] {
            backend.usesAMX = amx
            let logits = try backend.read(try XCTUnwrap(try model.forward(passage.ids.map(Int32.init), logits: .all)))
            XCTAssertEqual(logits.count, passage.ids.count * vocab)
            var worst: Float = 0
            for (row, (ids, values)) in zip(passage.top_ids, passage.top_logits).enumerated() {
                let mine = Array(logits[(row * vocab)..<((row + 1) * vocab)])
                let top = mine.indices.sorted { mine[$0] > mine[$1] }.prefix(ids.count)
                for (k, (id, want)) in zip(ids, values).enumerated() {
                    worst = max(worst, abs(mine[id] - want))
                    XCTAssertLessThanOrEqual(abs(mine[id] - want), Self.tolerance, "\(name) passage (AMX \(amx)) position \(row): logit of token \(id)")
                    XCTAssertLessThanOrEqual(abs(mine[top[top.startIndex + k]] - want), Self.tolerance, "\(name) passage (AMX \(amx)) position \(row): \(k + 1)-th largest logit")
                }
                if values[0] - values[1] > 1e-3 {
                    XCTAssertEqual(top.first, ids[0], "\(name) passage (AMX \(amx)) position \(row): top token")
                }
            }
            print("RealModelTests \(name) passage (AMX \(amx)): \(passage.ids.count) positions; worst top-10 logit difference \(worst)")
        }
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
    struct Passage: Decodable {
        let ids: [Int]
        let top_ids: [[Int]]
        let top_logits: [[Float]]
    }
    let model: String
    let cases: [Case]
    let passage: Passage?
}
