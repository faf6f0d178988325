import CPUBackend
import Formats
import Foundation
import LanternCore
@testable import Models
import XCTest

/// The first hardening pass's crash classes in model configurations (config.json and GGUF metadata): each must be
/// one line naming the file and the key, before anything is sized by the bad value.
final class MalformedConfigFileTests: XCTestCase {
    let gemma3: [String: Any] = [
        "model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 256, "sliding_window": 16,
    ]

    func expectConfigError(_ edit: [String: Any], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        var json = gemma3
        for (k, v) in edit { json[k] = v }
        XCTAssertThrowsError(try ModelConfig.parse(json, path: "m/config.json"), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), file: file, line: line)
            for f in ["m/config.json: "] + fragments { XCTAssertTrue(text.contains(f), "'\(text)' lacks '\(f)'", file: file, line: line) }
        }
    }

    func testIntact() throws { XCTAssertEqual(try ModelConfig.parse(gemma3, path: "c").layerCount, 2) }

    func testHugeSizesAreRefusedBeforeAllocating() {
        expectConfigError(["num_attention_heads": 1 << 62], ["num_attention_heads", "expected a positive integer up to 1024, got 4611686018427387904"])
        expectConfigError(["head_dim": 1 << 62], ["head_dim", "expected a positive integer up to 4096"])
        expectConfigError(["num_hidden_layers": 1_000_000_000_000], ["num_hidden_layers", "expected a positive integer up to 1024, got 1000000000000"])
        expectConfigError(["num_hidden_layers": 0], ["num_hidden_layers", "expected a positive integer up to 1024, got 0"])
    }

    func testSlidingPatternZeroIsRefused() {
        expectConfigError(["sliding_window_pattern": 0], ["sliding_window_pattern", "expected a positive integer up to 1024, got 0"])
    }

    func testNonPositiveOrNonFiniteNumbersAreRefused() {
        expectConfigError(["rms_norm_eps": -1e-6], ["rms_norm_eps", "expected a finite number > 0, got -1e-06"])
        expectConfigError(["rope_theta": 0], ["rope_theta", "expected a finite number > 0, got 0"])
        expectConfigError(["rope_theta": -10_000.0], ["rope_theta", "expected a finite number > 0, got -10000"])
        expectConfigError(["query_pre_attn_scalar": -1], ["query_pre_attn_scalar"])
        // A negative softcap is no setting (tanh(x/c)·c is even in c); 0 and null mean none.
        expectConfigError(["final_logit_softcapping": -30.0], ["final_logit_softcapping", "-30.0: expected a positive softcap, or 0 or null for none"])
        var none = gemma3
        none["final_logit_softcapping"] = 0
        XCTAssertNil(try ModelConfig.parse(none, path: "c").finalSoftcap)
    }

    func testWrongJSONTypesAreErrorsNotDefaults() {
        expectConfigError(["hidden_size": "64"], ["hidden_size", "expected a positive integer up to 2^17, got \"64\""])
        expectConfigError(["num_hidden_layers": 2.5], ["num_hidden_layers", "expected a positive integer up to 1024, got 2.5"])
        expectConfigError(["num_hidden_layers": true], ["num_hidden_layers", "expected a positive integer up to 1024, got true"])
        expectConfigError(["rms_norm_eps": "1e-6"], ["rms_norm_eps", "expected a finite number"])
        expectConfigError(["tie_word_embeddings": "yes"], ["tie_word_embeddings", "expected true or false"])
        expectConfigError(["rope_scaling": 5], ["rope_scaling", "expected an object"])
        expectConfigError(["layer_types": ["sliding_attention", 7]], ["layer_types", "list of strings"])
    }

    func testTokenIDsMustFitTheVocabulary() {
        expectConfigError(["bos_token_id": 1 << 31], ["bos_token_id", "expected an integer in -1…2147483647 or a list of them, got 2147483648"])
        expectConfigError(["eos_token_id": [1, 256]], ["eos_token_id", "256 is outside -1...255 (the vocabulary)"])
    }

    /// A config with fewer layers than the weights would silently run a truncated model.
    func testFewerLayersThanTheWeightsIsRefused() throws {
        let source = FixtureParityTests.fixtures.appendingPathComponent("gemma2_tiny")
        let dir = NSTemporaryDirectory() + "lantern-layers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: source.appendingPathComponent("model.safetensors").path, toPath: dir + "/model.safetensors")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        let layers = json["num_hidden_layers"] as! Int
        json["num_hidden_layers"] = layers - 1
        if let types = json["layer_types"] as? [String] { json["layer_types"] = Array(types.prefix(layers - 1)) }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/config.json"))
        XCTAssertThrowsError(try Transformer(directory: dir, backend: CPUBackend())) { error in
            XCTAssertTrue("\(error)".contains("model.layers.\(layers - 1)."), "\(error)")
            XCTAssertTrue("\(error)".contains("the configuration has \(layers - 1) layers"), "\(error)")
        }
    }

    // MARK: GGUF metadata, patched in place in the tiny Gemma 3 fixture

    /// The fixture with the value of `key` (a u32 or f32) replaced by `bits`.
    func patchedGGUF(_ key: String, _ bits: UInt32) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: GGUFModelTests.fixtures.appendingPathComponent("tiny-gemma3.gguf")))
        let needle = withUnsafeBytes(of: UInt64(key.utf8.count).littleEndian, Array.init) + Array(key.utf8)
        let at = try XCTUnwrap((0...(bytes.count - needle.count)).first { bytes[$0..<($0 + needle.count)].elementsEqual(needle) })
        let value = at + needle.count + 4
        withUnsafeBytes(of: bits.littleEndian) { for (i, b) in $0.enumerated() { bytes[value + i] = b } }
        let path = NSTemporaryDirectory() + "lantern-\(key)-\(bits).gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func expectGGUFError(_ key: String, _ bits: UInt32, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try patchedGGUF(key, bits)
        XCTAssertThrowsError(try ModelConfig.gguf(GGUFFile(path: path)), file: file, line: line) { error in
            for f in [path, key] + fragments { XCTAssertTrue("\(error)".contains(f), "'\(error)' lacks '\(f)'", file: file, line: line) }
        }
    }

    func testGGUFCountsAndIDsAreChecked() throws {
        try expectGGUFError("gemma3.block_count", 1_000_000_000, ["outside 1...1024"])
        try expectGGUFError("gemma3.block_count", 0, ["outside 1...1024"])
        try expectGGUFError("tokenizer.ggml.bos_token_id", 1 << 31, ["token id 2147483648 is outside the vocabulary"])
        try expectGGUFError("tokenizer.ggml.eos_token_id", UInt32.max, ["outside the vocabulary"])
    }

    func testGGUFNonFiniteOrNegativeNumbersAreRefused() throws {
        try expectGGUFError("gemma3.attention.layer_norm_rms_epsilon", Float(-1).bitPattern, ["finite positive"])
        try expectGGUFError("gemma3.attention.layer_norm_rms_epsilon", Float.nan.bitPattern, ["finite positive"])
        try expectGGUFError("gemma3.rope.freq_base", Float(0).bitPattern, ["finite positive"])
        try expectGGUFError("gemma3.rope.freq_base", Float.infinity.bitPattern, ["finite positive"])
    }
}
