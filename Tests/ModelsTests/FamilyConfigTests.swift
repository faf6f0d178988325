import XCTest
@testable import Models
import LanternCore

/// config.json of the Llama-like families in the transformers-4 style their Hub checkpoints use
/// (Qwen 2.5 0.5B, Qwen 3 0.6B, Mistral 7B v0.1, OLMo 2 1B shapes): which layers slide, the QK-norm
/// and bias conventions, and the hook points each family has.
final class FamilyConfigTests: XCTestCase {
    let qwen2: [String: Any] = [
        "architectures": ["Qwen2ForCausalLM"], "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu",
        "hidden_size": 896, "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
        "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
        "use_sliding_window": false, "vocab_size": 151936,
    ]
    let qwen3: [String: Any] = [
        "attention_bias": false, "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
        "hidden_size": 1024, "intermediate_size": 3072, "max_position_embeddings": 40960, "max_window_layers": 28,
        "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
        "rms_norm_eps": 1e-06, "rope_scaling": NSNull(), "rope_theta": 1000000, "sliding_window": NSNull(),
        "tie_word_embeddings": true, "use_sliding_window": false, "vocab_size": 151936,
    ]
    let mistral: [String: Any] = [
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336,
        "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32,
        "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
        "tie_word_embeddings": false, "vocab_size": 32000,
    ]
    let olmo2: [String: Any] = [
        "attention_bias": false, "eos_token_id": 100257, "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192,
        "max_position_embeddings": 4096, "model_type": "olmo2", "num_attention_heads": 16, "num_hidden_layers": 16,
        "num_key_value_heads": 16, "pad_token_id": 100277, "rms_norm_eps": 1e-06, "rope_scaling": NSNull(),
        "rope_theta": 500000, "tie_word_embeddings": false, "vocab_size": 100352,
    ]

    func parse(_ json: [String: Any]) throws -> ModelConfig { try ModelConfig.parse(json, path: "config.json") }

    func testQwen2() throws {
        let c = try parse(qwen2)
        XCTAssertEqual(c.family, .qwen2)
        XCTAssertTrue(c.qkvBias)
        XCTAssertNil(c.qkNorm)
        XCTAssertTrue(c.tiedEmbeddings)
        XCTAssertEqual(c.normForm, .llama)
        XCTAssertEqual(c.embeddingScale, 1)
        // sliding_window is set, but without use_sliding_window no layer slides.
        XCTAssertEqual(c.slidingLayers, Array(repeating: false, count: 24))
        XCTAssertEqual(c.attentionScale, 1 / Float(64).squareRoot())
        XCTAssertEqual(HookNames.all(c).count, 3 + 24 * 21)

        var sliding = qwen2
        sliding["use_sliding_window"] = true
        sliding["max_window_layers"] = 20
        let s = try parse(sliding)
        XCTAssertNil(s.window(layer: 19))
        XCTAssertEqual(s.window(layer: 20), 32768)
    }

    func testQwen3() throws {
        let c = try parse(qwen3)
        XCTAssertEqual(c.family, .qwen3)
        XCTAssertEqual(c.headDim, 128, "head_dim is explicit, not hidden / heads")
        XCTAssertEqual(c.qkNorm, .perHead)
        XCTAssertFalse(c.qkvBias)
        XCTAssertEqual(c.normForm, .llama)
        XCTAssertEqual(c.attentionScale, 1 / Float(128).squareRoot())
        XCTAssertEqual(c.eosTokens, [151645])
        XCTAssertTrue(c.slidingLayers.allSatisfy { !$0 })
        let hooks = HookNames.all(c)
        XCTAssertEqual(hooks.count, 3 + 28 * 23)
        XCTAssertEqual(Array(hooks[4...8]), ["blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v",
                                              "blocks.0.attn.hook_q_normed", "blocks.0.attn.hook_k_normed"])
    }

    func testMistralSlidesEveryLayer() throws {
        let c = try parse(mistral)
        XCTAssertEqual(c.family, .mistral)
        XCTAssertEqual(c.headDim, 128)
        XCTAssertEqual(c.kvHeads, 8)
        XCTAssertEqual(c.rmsEps, 1e-5)
        XCTAssertFalse(c.tiedEmbeddings)
        XCTAssertEqual((0..<32).map { c.window(layer: $0) }, Array(repeating: 4096, count: 32))
        // A null window (Mistral 7B v0.2 on) is full attention; a null head_dim is hidden / heads.
        var later = mistral
        later["sliding_window"] = NSNull()
        later["head_dim"] = NSNull()
        let l = try parse(later)
        XCTAssertTrue(l.slidingLayers.allSatisfy { !$0 })
        XCTAssertEqual(l.headDim, 128)
    }

    func testOLMo2() throws {
        let c = try parse(olmo2)
        XCTAssertEqual(c.family, .olmo2)
        XCTAssertFalse(c.preNorms)
        XCTAssertTrue(c.postNorms)
        XCTAssertEqual(c.qkNorm, .whole)
        XCTAssertEqual(c.normForm, .llama)
        XCTAssertEqual(c.padToken, 100277)
        XCTAssertNil(c.bosToken)
        let hooks = HookNames.all(c)
        XCTAssertEqual(hooks.count, 3 + 16 * 19, "no ln1 / ln2 hook points; q/k_normed")
        XCTAssertFalse(hooks.contains { $0.contains(".ln1.") || $0.contains(".ln2.") })
        // OLMo 2's default ε (1e-5) where the file leaves it out.
        var bare = olmo2
        bare["rms_norm_eps"] = nil
        XCTAssertEqual(try parse(bare).rmsEps, 1e-5)
    }

    /// Biases Lantern has no place for are refused, not ignored.
    func testUnsupportedBiasesAreRefused() throws {
        for (json, key) in [(olmo2, "attention_bias"), (mistral, "attention_bias"), (qwen3, "mlp_bias")] {
            var j = json
            j[key] = true
            XCTAssertThrowsError(try parse(j)) { XCTAssertTrue("\($0)".contains("\(key): true is not supported"), "\($0)") }
        }
    }
}
