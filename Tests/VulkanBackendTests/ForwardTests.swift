import CPUBackend
import Foundation
import Formats
import LanternCore
import Models
import VulkanBackend
import XCTest

/// Whole forward passes on Vulkan: the tiny fixtures made with transformers (Tests/Fixtures) must
/// match transformers within 1e-4 relative at every hook, as on the CPU backend, and agree with
/// the CPU backend; the KV cache path must match the full pass.
final class ForwardTests: VulkanTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    func fixture(_ name: String) throws -> (dir: String, sequences: [[Int32]], hooks: [String], reference: SafetensorsFile) {
        let dir = Self.fixtures.appendingPathComponent(name)
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("reference.json"))) as! [String: Any]
        return (dir.path, (meta["sequences"] as! [[Int]]).map { $0.map(Int32.init) },
                (meta["hooks"] as! [String]).filter { $0 != "logits" },
                try SafetensorsFile(path: dir.appendingPathComponent("reference.safetensors").path))
    }

    func checkParity(_ name: String, backend: VulkanBackend) throws {
        let f = try fixture(name)
        let model = try Transformer(directory: f.dir, backend: backend)
        let cpuModel = try Transformer(directory: f.dir, backend: cpu)
        var worst: (Float, String) = (0, "")
        for (s, tokens) in f.sequences.enumerated() {
            let hooks = Hooks(capture: .all), cpuHooks = Hooks(capture: .all)
            let logits = try model.forward(tokens, hooks: hooks)!
            let cpuLogits = try cpuModel.forward(tokens, hooks: cpuHooks)!
            for hook in f.hooks + ["logits"] {
                let expected = try f.reference.tensor("\(s):\(hook)")
                guard let tensor = hook == "logits" ? logits : hooks.activation(hook),
                      let cpuTensor = hook == "logits" ? cpuLogits : cpuHooks.activation(hook) else {
                    XCTFail("\(name): hook \(hook) not captured"); continue
                }
                XCTAssertEqual(tensor.shape, expected.shape, "\(name) seq \(s) \(hook)")
                let values = try backend.read(tensor)
                let err = Self.relativeError(values, try expected.floats())
                if err > worst.0 { worst = (err, "seq \(s) \(hook)") }
                XCTAssertLessThanOrEqual(err, 1e-4, "\(name) seq \(s) \(hook) vs transformers")
                XCTAssertLessThanOrEqual(Self.relativeError(values, try cpu.read(cpuTensor)), 1e-4, "\(name) seq \(s) \(hook) vs CPU backend")
            }
        }
        print("\(name) on \(backend.name): worst relative error vs transformers \(worst.0) at \(worst.1)")
    }

    func testGemma2MatchesTransformers() throws { try checkParity("gemma2_tiny", backend: gpu) }
    func testGemma3MatchesTransformers() throws { try checkParity("gemma3_tiny", backend: gpu) }
    func testLlamaMatchesTransformers() throws { try checkParity("llama_tiny", backend: gpu) }
    func testQwen2MatchesTransformers() throws { try checkParity("qwen2_tiny", backend: gpu) }
    func testQwen3MatchesTransformers() throws { try checkParity("qwen3_tiny", backend: gpu) }
    func testMistralMatchesTransformers() throws { try checkParity("mistral_tiny", backend: gpu) }
    func testOLMo2MatchesTransformers() throws { try checkParity("olmo2_tiny", backend: gpu) }
    func testGPT2MatchesTransformers() throws { try checkParity("gpt2_tiny", backend: gpu) }
    func testPythiaMatchesTransformers() throws { try checkParity("pythia_tiny", backend: gpu) }
    func testGemma2WithStagingCopies() throws { try checkParity("gemma2_tiny", backend: staging) }

    /// Prefill in pieces through the KV cache gives the logits of one full pass.
    func testKVCacheMatchesFullPass() throws {
        for name in ["gemma2_tiny", "gemma3_tiny", "llama_tiny", "qwen2_tiny", "qwen3_tiny", "mistral_tiny", "olmo2_tiny",
                     "gpt2_tiny", "pythia_tiny"] {
            let f = try fixture(name)
            let model = try Transformer(directory: f.dir, backend: gpu)
            let tokens = f.sequences[1]
            let full = try gpu.read(try model.forward(tokens)!)
            let cache = try KVCache(model: model, capacity: tokens.count)
            var pieces: [Float] = []
            var at = 0
            for size in [3, 1, 2] + Array(repeating: 1, count: tokens.count) where at < tokens.count {
                let chunk = Array(tokens[at..<min(tokens.count, at + size)])
                pieces += try gpu.read(try model.forward(chunk, cache: cache)!)
                at += chunk.count
            }
            XCTAssertLessThanOrEqual(Self.relativeError(pieces, full), 1e-5, "\(name): cached vs full logits")
        }
    }

    /// A random model with bf16 weights and 9 heads of odd width, built in the test (no files):
    /// Vulkan and CPU backends agree on the logits.
    func testRandomBF16ModelMatchesCPU() throws {
        let config = ModelConfig.tinyRandom
        let weights = RandomWeights(config: config, dtype: .bf16)
        let tokens: [Int32] = [2, 5, 17, 3, 30, 9, 1, 22, 8, 11]
        let vk = try gpu.read(try Transformer(config: config, weights: weights, backend: gpu).forward(tokens)!)
        let host = try cpu.read(try Transformer(config: config, weights: weights, backend: cpu).forward(tokens)!)
        assertClose(vk, host, 1e-4, "random bf16 model logits")
    }
}

extension ModelConfig {
    /// A small Gemma 2 shape: 2 layers (one sliding), GQA 3:1, head_dim 10, softcaps.
    static var tinyRandom: ModelConfig {
        let json: [String: Any] = [
            "model_type": "gemma2", "vocab_size": 40, "hidden_size": 24, "intermediate_size": 37,
            "num_hidden_layers": 2, "num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": 10,
            "sliding_window": 4, "query_pre_attn_scalar": 10, "attn_logit_softcapping": 20.0,
            "final_logit_softcapping": 10.0, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
        ]
        return try! ModelConfig.parse(json, path: "tiny-random")
    }
}

/// Random weights for a config, in memory, in `dtype` (norm weights too).
final class RandomWeights: WeightSource, @unchecked Sendable {
    var location: String { "random" }
    let tensors: [String: (HostBytes, [Int])]
    let dtype: DType

    init(config c: ModelConfig, dtype: DType) {
        self.dtype = dtype
        let d = c.hiddenSize, qw = c.heads * c.headDim, kw = c.kvHeads * c.headDim, f = c.intermediateSize
        var shapes: [String: [Int]] = ["model.embed_tokens.weight": [c.vocabSize, d], "model.norm.weight": [d]]
        for l in 0..<c.layerCount {
            let p = "model.layers.\(l)."
            for norm in ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"] {
                shapes[p + norm + ".weight"] = [d]
            }
            shapes[p + "self_attn.q_proj.weight"] = [qw, d]
            shapes[p + "self_attn.k_proj.weight"] = [kw, d]
            shapes[p + "self_attn.v_proj.weight"] = [kw, d]
            shapes[p + "self_attn.o_proj.weight"] = [d, qw]
            shapes[p + "mlp.gate_proj.weight"] = [f, d]
            shapes[p + "mlp.up_proj.weight"] = [f, d]
            shapes[p + "mlp.down_proj.weight"] = [d, f]
        }
        var tensors: [String: (HostBytes, [Int])] = [:]
        for (i, (name, shape)) in shapes.sorted(by: { $0.key < $1.key }).enumerated() {
            let scale: Float = shape.count == 1 ? 0.5 : 1 / Float(shape[1]).squareRoot() * 1.5
            tensors[name] = (HostBytes(VulkanTestCase.random(shape.reduce(1, *), seed: UInt64(1000 + i), scale: scale), dtype: dtype), shape)
        }
        self.tensors = tensors
    }

    func has(_ name: String) -> Bool { tensors[name] != nil }
    var tensorNames: [String] { Array(tensors.keys) }
    func tensor(_ name: String) throws -> HostTensor {
        guard let (bytes, shape) = tensors[name] else { throw LanternError.badFile(path: location, field: name, problem: "missing") }
        return bytes.host(name, shape: shape, dtype: dtype)
    }
}
