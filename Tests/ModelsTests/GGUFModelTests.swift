import CPUBackend
import Formats
import Foundation
import LanternCore
import Models
import XCTest

/// Tiny random Gemma 2 / Gemma 3 / Llama models written to GGUF as llama.cpp's converter does
/// (norms 1 + w, Llama q/k permuted, mixed Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/F16/BF16/F32 matrices) and
/// read back by transformers for the goldens (tools/make_gguf_fixtures.py): all logits within
/// 1e-4 of the largest.
final class GGUFModelTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/gguf")

    struct Golden: Decodable {
        let tokens: [Int32]
        let vocab: Int
        let logits: [Float]
    }

    func check(_ family: String) throws -> ModelConfig {
        let path = Self.fixtures.appendingPathComponent("tiny-\(family).gguf").path
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("tiny-\(family).json")))
        let model = try Transformer(gguf: path, backend: CPUBackend())
        let logits = try model.backend.read(try XCTUnwrap(try model.forward(golden.tokens, logits: .all)))
        XCTAssertEqual(logits.count, golden.logits.count)
        let scale = golden.logits.map(abs).max()!
        var worst: Float = 0
        for (a, b) in zip(logits, golden.logits) { worst = max(worst, abs(a - b) / scale) }
        XCTAssertLessThan(worst, 1e-4, "\(family): worst relative logit error \(worst)")
        // Greedy picks at every position agree.
        for p in 0..<golden.tokens.count {
            let row = p * golden.vocab..<(p + 1) * golden.vocab
            XCTAssertEqual(logits[row].indices.max { logits[$0] < logits[$1] }, golden.logits[row].indices.max { golden.logits[$0] < golden.logits[$1] })
        }
        print("GGUFModelTests \(family): worst relative logit error \(worst)")
        return model.config
    }

    /// GPT-2 with Q8_0 block matrices: the fused attn_qkv split by rows into quantised q, k and v
    /// (views of the mapped file), against transformers' run of the same file.
    func testQuantisedGPT2() throws {
        let c = try check("gpt2-q8_0")
        XCTAssertEqual(c.family, .gpt2)
        let file = try GGUFFile(path: Self.fixtures.appendingPathComponent("tiny-gpt2-q8_0.gguf").path)
        XCTAssertEqual(try GGUFWeights(file: file, family: .gpt2).tensor("transformer.h.0.attn.c_attn.weight").dtype, .q8_0)
    }

    func testGemma2() throws {
        let c = try check("gemma2")
        XCTAssertEqual(c.family, .gemma2)
        XCTAssertEqual(c.slidingLayers, [true, false])
        XCTAssertEqual(c.attentionSoftcap, 50)
        XCTAssertEqual(c.finalSoftcap, 30)
        XCTAssertTrue(c.tiedEmbeddings)
    }

    func testGemma3() throws {
        let c = try check("gemma3")
        XCTAssertEqual(c.family, .gemma3)
        XCTAssertEqual(c.ropeGlobal.theta, 1_000_000)
        XCTAssertEqual(c.ropeLocal.theta, 10_000)
        XCTAssertEqual(c.ropeGlobal.pairing, .half)
        XCTAssertEqual(c.slidingLayers, [true, true])
        XCTAssertEqual(c.attentionScale, 1 / 16)
    }

    func testLlama() throws {
        let c = try check("llama")
        XCTAssertEqual(c.family, .llama)
        XCTAssertEqual(c.ropeGlobal.pairing, .interleaved)
        XCTAssertFalse(c.tiedEmbeddings)
    }

    func testNameMappingAndShapes() throws {
        let g = try GGUFFile(path: Self.fixtures.appendingPathComponent("tiny-llama.gguf").path)
        XCTAssertEqual(try ModelConfig.gguf(g).vocabSize, 128)
        let weights = try GGUFWeights(file: g, family: .llama)
        XCTAssertTrue(weights.has("model.layers.1.mlp.down_proj.weight"))
        XCTAssertTrue(weights.has("lm_head.weight"))
        XCTAssertEqual(try weights.tensor("model.layers.0.self_attn.k_proj.weight").shape, [32, 64])
        XCTAssertThrowsError(try weights.tensor("model.layers.0.pre_feedforward_layernorm.weight")) {
            XCTAssertTrue("\($0)".contains("tiny-llama.gguf"))
        }
    }
}
