import CPUBackend
import Formats
import Foundation
import LanternCore
@testable import Models
import XCTest

/// The Llama-like, GPT-2 and Pythia fixtures written to GGUF as llama.cpp's converter writes them
/// (architectures qwen2, qwen3, olmo2, llama for Mistral, gpt2, gptneox;
/// tools/make_gguf_fixtures.py, every tensor F32) run
/// as their safetensors do: every hook point and the logits within 1e-5 relative (summation order
/// only), on both reference sequences.
final class GGUFFamilyTests: XCTestCase {
    typealias F = FixtureParityTests

    /// Both loads of one fixture, and the configuration the GGUF's metadata gave.
    func compare(_ fixture: String, gguf name: String, tiedInFile: Bool = true) throws -> ModelConfig {
        let f = try F.load(fixture)
        let path = GGUFModelTests.fixtures.appendingPathComponent("tiny-\(name).gguf").path
        let model = try Transformer(gguf: path, backend: CPUBackend())
        let (a, b) = (model.config, f.model.config)
        XCTAssertEqual([a.vocabSize, a.hiddenSize, a.intermediateSize, a.layerCount, a.heads, a.kvHeads, a.headDim],
                       [b.vocabSize, b.hiddenSize, b.intermediateSize, b.layerCount, b.heads, b.kvHeads, b.headDim], fixture)
        XCTAssertEqual(a.slidingLayers, b.slidingLayers, fixture)
        if tiedInFile { XCTAssertEqual(a.tiedEmbeddings, b.tiedEmbeddings, fixture) }
        XCTAssertEqual(a.activation, b.activation, fixture)
        XCTAssertEqual(a.positions, b.positions, fixture)
        XCTAssertEqual(a.parallelResidual, b.parallelResidual, fixture)
        XCTAssertEqual(a.ropeGlobal.rotaryDim, b.ropeGlobal.rotaryDim, fixture)
        XCTAssertEqual(a.rmsEps, b.rmsEps, fixture)
        XCTAssertEqual(a.ropeGlobal.theta, b.ropeGlobal.theta, fixture)
        XCTAssertEqual(a.attentionScale, b.attentionScale, fixture)
        XCTAssertEqual(model.parameterNames, f.model.parameterNames, fixture)
        // llama files hold q and k permuted for neighbouring-pair RoPE: their q/k hook points are
        // the same numbers in another order within each head, so only the others are compared.
        let permuted = a.ropeGlobal.pairing == .interleaved
        let qk = ["attn.hook_q", "attn.hook_k", "attn.hook_rot_q", "attn.hook_rot_k", "attn.hook_q_normed", "attn.hook_k_normed"]
        var worst: Float = 0
        for tokens in f.sequences {
            let hooks = Hooks(capture: .all), reference = Hooks(capture: .all)
            let logits = try model.backend.read(try XCTUnwrap(model.forward(tokens, hooks: hooks)))
            let expected = try f.model.backend.read(try XCTUnwrap(f.model.forward(tokens, hooks: reference)))
            worst = max(worst, F.relativeError(logits, expected))
            XCTAssertEqual(hooks.captured.map(\.name), reference.captured.map(\.name), fixture)
            for (x, y) in zip(hooks.captured, reference.captured) where !(permuted && qk.contains(where: x.name.hasSuffix)) {
                let err = F.relativeError(try model.backend.read(x.tensor), try f.model.backend.read(y.tensor))
                XCTAssertLessThanOrEqual(err, 1e-5, "\(fixture) \(x.name)")
                worst = max(worst, err)
            }
        }
        XCTAssertLessThanOrEqual(worst, 1e-5, fixture)
        print("GGUFFamilyTests \(fixture): GGUF vs safetensors, worst relative difference \(worst)")
        return a
    }

    func testQwen2() throws {
        let c = try compare("qwen2_tiny", gguf: "qwen2")
        XCTAssertEqual(c.family, .qwen2)
        XCTAssertTrue(c.qkvBias)
        XCTAssertEqual(c.ropeGlobal.pairing, .half, "llama.cpp rotates Qwen 2's halves (NEOX)")
    }

    func testQwen3() throws {
        let c = try compare("qwen3_tiny", gguf: "qwen3")
        XCTAssertEqual(c.family, .qwen3)
        XCTAssertEqual(c.headDim, 16, "attention.key_length, not hidden / heads")
        XCTAssertEqual(c.qkNorm, .perHead)
    }

    /// llama.cpp writes Mistral as llama; this file also carries llama.attention.sliding_window,
    /// which Lantern applies to every layer.
    func testMistralAsLlama() throws {
        let c = try compare("mistral_tiny", gguf: "mistral")
        XCTAssertEqual(c.family, .llama)
        XCTAssertEqual(c.ropeGlobal.pairing, .interleaved)
        XCTAssertEqual((0..<c.layerCount).map { c.window(layer: $0) }, [4, 4, 4])
    }

    func testOLMo2() throws {
        let c = try compare("olmo2_tiny", gguf: "olmo2")
        XCTAssertEqual(c.family, .olmo2)
        XCTAssertEqual(c.qkNorm, .whole)
        XCTAssertFalse(c.preNorms)
        XCTAssertEqual(c.ropeGlobal.pairing, .half)
        let weights = try GGUFWeights(file: try GGUFFile(path: GGUFModelTests.fixtures.appendingPathComponent("tiny-olmo2.gguf").path),
                                      family: .olmo2)
        // OLMo 2's post_attention_norm is the norm on the attention's output, not the MLP's input.
        XCTAssertTrue(weights.has("model.layers.0.post_attention_layernorm.weight"))
        XCTAssertTrue(weights.has("model.layers.0.post_feedforward_layernorm.weight"))
        XCTAssertFalse(weights.has("model.layers.0.input_layernorm.weight"))
    }

    /// GPT-2 as llama.cpp writes it: matrices [out, in] (no Conv1D transpose left to undo),
    /// position_embd, and the tied embedding written again as output.weight, read as an untied
    /// copy of the same numbers.
    func testGPT2() throws {
        let c = try compare("gpt2_tiny", gguf: "gpt2", tiedInFile: false)
        XCTAssertEqual(c.family, .gpt2)
        XCTAssertFalse(c.tiedEmbeddings, "the converter writes output.weight")
        XCTAssertTrue(c.layerNorm && c.qkvBias && c.outputBias)
        XCTAssertEqual(c.contextLength, 64)
    }

    /// GPT-NeoX as llama.cpp writes it: attn_qkv regrouped into q, k, v (no per-head rows left),
    /// rope.dimension_count the rotated part of each head, use_parallel_residual; transformers
    /// computes Pythia's GELU exactly, as Lantern does from this file.
    func testPythia() throws {
        let c = try compare("pythia_tiny", gguf: "pythia")
        XCTAssertEqual(c.family, .gptNeoX)
        XCTAssertEqual(c.ropeGlobal.rotaryDim, 4)
        XCTAssertTrue(c.parallelResidual)
        XCTAssertEqual(c.activation, .geluErf)
    }
}
