import XCTest
@testable import Models
import LanternCore

final class ConfigTests: XCTestCase {
    /// gemma-2-2b's config.json as the Hub has it today (transformers-4 style).
    let gemma2Hub: [String: Any] = [
        "architectures": ["Gemma2ForCausalLM"], "attn_logit_softcapping": 50.0, "bos_token_id": 2,
        "eos_token_id": [1, 107], "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 2304, "intermediate_size": 9216, "max_position_embeddings": 8192, "model_type": "gemma2",
        "num_attention_heads": 8, "num_hidden_layers": 26, "num_key_value_heads": 4, "pad_token_id": 0,
        "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096,
        "vocab_size": 256000,
    ]

    func testGemma2HubConfig() throws {
        let c = try ModelConfig.parse(gemma2Hub, path: "config.json")
        XCTAssertEqual(c.family, .gemma2)
        XCTAssertEqual(c.slidingLayers.prefix(4), [true, false, true, false])
        XCTAssertEqual(c.attentionScale, 1 / 16)
        XCTAssertEqual(c.attentionSoftcap, 50)
        XCTAssertEqual(c.finalSoftcap, 30)
        XCTAssertEqual(c.ropeGlobal.theta, 10_000)
        XCTAssertEqual(c.eosTokens, [1, 107])
        XCTAssertTrue(c.tiedEmbeddings)
        XCTAssertEqual(c.window(layer: 0), 4096)
        XCTAssertNil(c.window(layer: 1))
    }

    func testTransformers5Gemma3Config() throws {
        var json: [String: Any] = [
            "model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048, "num_hidden_layers": 7,
            "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 262144,
            "sliding_window": 512, "query_pre_attn_scalar": 256,
            "rope_parameters": ["full_attention": ["rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0],
                                "sliding_attention": ["rope_type": "default", "rope_theta": 10_000.0]],
        ]
        var c = try ModelConfig.parse(json, path: "config.json")
        XCTAssertEqual(c.slidingLayers, [true, true, true, true, true, false, true])
        XCTAssertEqual(c.rope(layer: 5), RopeParams(theta: 1_000_000, positionScale: 8, rotaryDim: 256))
        XCTAssertEqual(c.rope(layer: 0), RopeParams(theta: 10_000, rotaryDim: 256))
        XCTAssertNil(c.attentionSoftcap)
        json["layer_types"] = ["full_attention", "sliding_attention", "full_attention", "sliding_attention",
                               "full_attention", "full_attention", "full_attention"]
        c = try ModelConfig.parse(json, path: "config.json")
        XCTAssertEqual(c.slidingLayers, [false, true, false, true, false, false, false])
    }

    func testErrorsNameTheField() {
        var json = gemma2Hub
        json["model_type"] = "gptj"
        XCTAssertThrowsError(try ModelConfig.parse(json, path: "m/config.json")) {
            XCTAssertEqual("\($0)", "m/config.json: model_type: 'gptj' is not supported (expected gemma2, gemma3_text, llama, mistral, qwen2, qwen3, olmo2, gpt2, gpt_neox)")
        }
        json = gemma2Hub
        json.removeValue(forKey: "hidden_size")
        XCTAssertThrowsError(try ModelConfig.parse(json, path: "m/config.json")) {
            XCTAssertEqual("\($0)", "m/config.json: hidden_size: missing")
        }
        json = gemma2Hub
        json["num_key_value_heads"] = 3
        XCTAssertThrowsError(try ModelConfig.parse(json, path: "m/config.json")) {
            XCTAssertTrue("\($0)".contains("num_key_value_heads: 3 does not divide"))
        }
    }

    func testHookGlobs() throws {
        let f = HookFilter(["blocks.*.hook_resid_post", "hook_embed"])
        XCTAssertTrue(f.matches("blocks.12.hook_resid_post"))
        XCTAssertTrue(f.matches("hook_embed"))
        XCTAssertFalse(f.matches("blocks.1.hook_resid_pre"))
        XCTAssertTrue(HookFilter(["blocks.1?.attn.*"]).matches("blocks.10.attn.hook_pattern"))
        XCTAssertFalse(HookFilter(["blocks.1?.attn.*"]).matches("blocks.1.attn.hook_pattern"))
        XCTAssertEqual(HookNames.all(try ModelConfig.parse(gemma2Hub, path: "config.json")).count, 3 + 26 * 21)
    }
}
