import CPUBackend
import Formats
import Foundation
import XCTest
@testable import Models
import LanternCore

/// config.json of GPT-2 and GPT-NeoX as their Hub checkpoints write them (gpt2 and
/// EleutherAI/pythia-70m, transformers 4): the conventions read from each, the hook points, and the
/// variants refused in one line.
final class GPTConfigTests: XCTestCase {
    let gpt2: [String: Any] = [
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1, "bos_token_id": 50256,
        "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
        "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1,
        "summary_activation": NSNull(), "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
        "summary_use_proj": true, "task_specific_params": ["text-generation": ["do_sample": true, "max_length": 50]],
        "vocab_size": 50257,
    ]
    let pythia: [String: Any] = [
        "architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "gelu", "hidden_size": 512,
        "initializer_range": 0.02, "intermediate_size": 2048, "layer_norm_eps": 1e-05, "max_position_embeddings": 2048,
        "model_type": "gpt_neox", "num_attention_heads": 8, "num_hidden_layers": 6, "rotary_emb_base": 10000, "rotary_pct": 0.25,
        "tie_word_embeddings": false, "torch_dtype": "float16", "use_cache": true, "use_parallel_residual": true, "vocab_size": 50304,
    ]

    func parse(_ json: [String: Any]) throws -> ModelConfig { try ModelConfig.parse(json, path: "config.json") }

    func testGPT2() throws {
        let c = try parse(gpt2)
        XCTAssertEqual(c.family, .gpt2)
        XCTAssertEqual([c.hiddenSize, c.heads, c.kvHeads, c.headDim, c.layerCount, c.intermediateSize, c.contextLength],
                       [768, 12, 12, 64, 12, 3072, 1024])
        XCTAssertEqual(c.positions, .learned)
        XCTAssertFalse(c.rotary)
        XCTAssertTrue(c.layerNorm && c.qkvBias && c.outputBias && c.tiedEmbeddings)
        XCTAssertFalse(c.gatedMLP || c.parallelResidual)
        XCTAssertEqual(c.activation, .geluTanh)
        XCTAssertEqual(c.rmsEps, 1e-5)
        XCTAssertEqual(c.attentionScale, 0.125)
        XCTAssertEqual(c.eosTokens, [50256])
        let hooks = HookNames.all(c)
        XCTAssertEqual(Array(hooks.prefix(3)), ["hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre"])
        XCTAssertEqual(hooks.count, 2 + 12 * 18 + 2)
        for absent in ["attn.hook_rot_q", "mlp.hook_pre_linear", "attn.hook_q_normed"] {
            XCTAssertFalse(hooks.contains { $0.hasSuffix(absent) }, absent)
        }
        XCTAssertTrue(hooks.contains("blocks.11.hook_resid_mid"))

        var unscaled = gpt2
        unscaled["scale_attn_weights"] = false
        XCTAssertEqual(try parse(unscaled).attentionScale, 1)
        var exact = gpt2
        exact["activation_function"] = "gelu"
        XCTAssertEqual(try parse(exact).activation, .geluErf)
        var inner = gpt2
        inner["n_inner"] = 1000
        XCTAssertEqual(try parse(inner).intermediateSize, 1000)
    }

    func testPythia() throws {
        let c = try parse(pythia)
        XCTAssertEqual(c.family, .gptNeoX)
        XCTAssertEqual([c.hiddenSize, c.heads, c.headDim, c.layerCount, c.intermediateSize], [512, 8, 64, 6, 2048])
        XCTAssertEqual(c.ropeGlobal, RopeParams(theta: 10_000, pairing: .half, rotaryDim: 16))
        XCTAssertTrue(c.rotary && c.parallelResidual && c.layerNorm && c.qkvBias && c.outputBias)
        XCTAssertFalse(c.tiedEmbeddings || c.gatedMLP)
        XCTAssertEqual(c.activation, .geluErf)
        let hooks = HookNames.all(c)
        XCTAssertEqual(hooks.count, 1 + 6 * 19 + 2)
        XCTAssertFalse(hooks.contains { $0.hasSuffix("hook_resid_mid") }, "a parallel block has no resid_mid")
        XCTAssertTrue(hooks.contains("blocks.0.attn.hook_rot_k"))

        // transformers 5 writes rotary_pct and rotary_emb_base into rope_parameters.
        var v5 = pythia
        v5.removeValue(forKey: "rotary_pct")
        v5.removeValue(forKey: "rotary_emb_base")
        v5["rope_parameters"] = ["partial_rotary_factor": 0.5, "rope_theta": 20000, "rope_type": "default"]
        XCTAssertEqual(try parse(v5).ropeGlobal, RopeParams(theta: 20_000, pairing: .half, rotaryDim: 32))
        var sequential = pythia
        sequential["use_parallel_residual"] = false
        let s = try parse(sequential)
        XCTAssertFalse(s.parallelResidual)
        XCTAssertTrue(HookNames.all(s).contains("blocks.5.hook_resid_mid"))
        var unbiased = pythia
        unbiased["attention_bias"] = false
        XCTAssertFalse(try parse(unbiased).qkvBias)
    }

    func testVariantsAreRefusedInOneLine() {
        func expect(_ json: [String: Any], _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try parse(json), line: line) { XCTAssertEqual("\($0)", message, line: line) }
        }
        var j = gpt2
        j["scale_attn_by_inverse_layer_idx"] = true
        expect(j, "config.json: scale_attn_by_inverse_layer_idx: true is not supported (a per-layer attention scale)")
        j = gpt2
        j["activation_function"] = "relu"
        expect(j, "config.json: activation_function: 'relu' is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast)")
        j = gpt2
        j["n_head"] = 7
        expect(j, "config.json: n_head: 7 does not divide n_embd 768")
        j = gpt2
        j.removeValue(forKey: "n_embd")
        expect(j, "config.json: n_embd: missing")
        j = pythia
        j["rotary_pct"] = 0.3
        expect(j, "config.json: rotary_pct: 0.3 rotates 19 of the head's 64 dimensions, an odd number")
        j = pythia
        j["rotary_pct"] = 1.5
        expect(j, "config.json: rotary_pct: 1.5 is more than 1 (the whole head)")
        j = pythia
        j["hidden_act"] = "gelu_new_python"
        expect(j, "config.json: hidden_act: 'gelu_new_python' is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast)")
    }

    /// Sizes, types and ranges are checked before anything is sized by them, and a checkpoint that
    /// contradicts its configuration is refused at the tensor it contradicts: one line each.
    func testMalformedFilesAreOneLine() throws {
        func expect(_ json: [String: Any], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try parse(json), line: line) {
                XCTAssertTrue("\($0)".contains(fragment), "\($0)", line: line)
                XCTAssertFalse("\($0)".contains("\n"), line: line)
            }
        }
        var j = gpt2
        j["n_layer"] = 1 << 40
        expect(j, "n_layer: expected a positive integer up to 1024")
        j = gpt2
        j["n_embd"] = "768"
        expect(j, "n_embd: expected a positive integer")
        j = gpt2
        j["layer_norm_epsilon"] = -1e-5
        expect(j, "layer_norm_epsilon: expected a finite number > 0")
        j = gpt2
        j["eos_token_id"] = 60000
        expect(j, "eos_token_id: 60000 is outside -1...50256")
        j = pythia
        j["rotary_pct"] = "quarter"
        expect(j, "rotary_pct: expected a finite number")
        j = pythia
        j["use_parallel_residual"] = 1
        expect(j, "use_parallel_residual: expected true or false")

        // gpt2_tiny's weights under a configuration twice as wide: refused at the first tensor.
        let dir = FixtureParityTests.fixtures.appendingPathComponent("gpt2_tiny")
        var wide = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        wide["n_embd"] = 64
        let config = try ModelConfig.parse(wide, path: "config.json")
        XCTAssertThrowsError(try Transformer(config: config, weights: try Checkpoint(directory: dir.path), backend: CPUBackend())) {
            XCTAssertTrue("\($0)".contains("transformer.wte.weight: shape [256, 32] contradicts config.json"), "\($0)")
        }
    }

    /// The load-time rearrangement (GPT-2's Conv1D transpose, NeoX's row regrouping) moves whole
    /// elements of every float dtype a checkpoint holds (Pythia's are f16), from unaligned bytes too.
    func testRearrangementKeepsEveryFloatDType() throws {
        let values: [Float] = [1, 2, 3, 4, 5, 6]   // [2, 3]
        for dtype in [DType.f32, .f16, .bf16] {
            var bytes: [UInt8] = [0]   // one byte of padding: the tensor starts unaligned
            for v in values {
                switch dtype {
                case .f32: bytes += withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init)
                case .f16: bytes += withUnsafeBytes(of: Float16(v).bitPattern.littleEndian, Array.init)
                default: bytes += withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian, Array.init)
                }
            }
            let transposed = try bytes.withUnsafeBytes { raw in
                let host = HostTensor(name: "w", shape: [2, 3], dtype: dtype, bytes: UnsafeRawBufferPointer(rebasing: raw[1...]), owner: nil)
                return try host.rearranged(rows: 3, cols: 2) { r, c in c * 3 + r }.floats()
            }
            XCTAssertEqual(transposed, [1, 4, 2, 5, 3, 6], "\(dtype)")
        }
    }
}
