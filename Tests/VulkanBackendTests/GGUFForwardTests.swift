import CPUBackend
import Foundation
import LanternCore
import Models
import VulkanBackend
import XCTest
import TestSupport

/// GGUF models (block-quantised weights dequantised in the shaders) on Vulkan against the CPU
/// backend: the tiny fixtures (mixed Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/F16/BF16/F32) at every position within
/// 1e-4 relative, and the real Gemma 3 270M Q4_K_M next-token logits when it is cached.
final class GGUFForwardTests: VulkanTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/gguf")

    struct Golden: Decodable {
        let tokens: [Int32]
    }

    func checkAgainstCPU(_ path: String, tokens: [Int32], logits rows: LogitRows, _ what: String) throws {
        let vk = try gpu.read(try XCTUnwrap(try Transformer(gguf: path, backend: gpu).forward(tokens, logits: rows)))
        let ref = try cpu.read(try XCTUnwrap(try Transformer(gguf: path, backend: cpu).forward(tokens, logits: rows)))
        let err = Self.relativeError(vk, ref)
        print("GGUFForwardTests \(what): relative logit error vs CPU \(err)")
        XCTAssertLessThanOrEqual(err, 1e-4, "\(what): Vulkan vs CPU logits")
        XCTAssertEqual(vk.indices.max { vk[$0] < vk[$1] }, ref.indices.max { ref[$0] < ref[$1] }, "\(what): top token")
    }

    func checkFixture(_ family: String) throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("tiny-\(family).json")))
        let path = Self.fixtures.appendingPathComponent("tiny-\(family).gguf").path
        try checkAgainstCPU(path, tokens: golden.tokens, logits: .all, "tiny-\(family).gguf")
        // The decode path (matrix-vector kernel) too.
        try checkAgainstCPU(path, tokens: Array(golden.tokens.prefix(1)), logits: .all, "tiny-\(family).gguf, one token")
    }

    func testTinyGemma2() throws { try checkFixture("gemma2") }
    func testTinyGemma3() throws { try checkFixture("gemma3") }
    func testTinyLlama() throws { try checkFixture("llama") }
    /// GPT-2 with Q8_0 matrices: q, k and v are row views of the fused attn_qkv on the device.
    func testTinyQuantisedGPT2() throws { try checkFixture("gpt2-q8_0") }

    /// Gemma 3 270M Q4_K_M (Q8_0 tied embedding, Q5_0 / Q8_0 / Q4_K / Q6_K matrices): next-token logits.
    func testRealGemma3_270M() throws {
        let path = try requireModel("gemma3-270m")
        try checkAgainstCPU(path, tokens: [2, 818, 5279, 529, 7001, 563], logits: .last, "gemma3-270m")
    }
}
