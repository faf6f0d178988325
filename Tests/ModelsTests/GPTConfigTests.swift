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
}
