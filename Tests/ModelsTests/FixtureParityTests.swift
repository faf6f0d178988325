import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
@testable import Models

/// The tiny random models in Tests/Fixtures (made by tools/make_fixtures.py with transformers):
/// every hook and the logits must match transformers within 1e-4 relative (max |a−b| / max |b|).
final class FixtureParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    struct Fixture {
        let model: Transformer
        let sequences: [[Int32]]
        let hooks: [String]
        let reference: SafetensorsFile
    }

    static func load(_ name: String, backend: any Backend = CPUBackend()) throws -> Fixture {
        let dir = fixtures.appendingPathComponent(name)
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("reference.json"))) as! [String: Any]
        let sequences = (meta["sequences"] as! [[Int]]).map { $0.map(Int32.init) }
        return Fixture(model: try Transformer(directory: dir.path, backend: backend), sequences: sequences,
                      hooks: (meta["hooks"] as! [String]).filter { $0 != "logits" },
                      reference: try SafetensorsFile(path: dir.appendingPathComponent("reference.safetensors").path))
    }

    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        return diff / max(b.map(abs).max() ?? 0, 1e-30)
    }

    func checkParity(_ name: String) throws {
        let f = try Self.load(name)
        // hook_result has no transformers counterpart; HeadResultTests checks it against z and W_O.
        // Attention scores and norm scales are checked by ScoreScaleInterventionTests.
        let produced = Set(HookNames.all(f.model.config).filter {
            !$0.hasSuffix("attn.hook_result") && !$0.hasSuffix("attn.hook_attn_scores") && !$0.hasSuffix(".hook_scale")
        })
        XCTAssertEqual(produced.subtracting(f.hooks), [], "\(name): hooks the fixture does not check")
        var worst: (Float, String) = (0, "")
        for (s, tokens) in f.sequences.enumerated() {
            let hooks = Hooks(capture: .all)
            let logits = try f.model.forward(tokens, hooks: hooks)!
            for hook in f.hooks {
                let expected = try f.reference.tensor("\(s):\(hook)")
                guard let tensor = hooks.activation(hook) else { XCTFail("\(name): hook \(hook) not captured"); continue }
                XCTAssertEqual(tensor.shape, expected.shape, "\(name) seq \(s) \(hook)")
                let err = Self.relativeError(try f.model.backend.read(tensor), try expected.floats())
                if err > worst.0 { worst = (err, "seq \(s) \(hook)") }
                XCTAssertLessThanOrEqual(err, 1e-4, "\(name) seq \(s) \(hook)")
            }
            let expected = try f.reference.tensor("\(s):logits")
            let err = Self.relativeError(try f.model.backend.read(logits), try expected.floats())
            XCTAssertLessThanOrEqual(err, 1e-4, "\(name) seq \(s) logits")
            if err > worst.0 { worst = (err, "seq \(s) logits") }
        }
        print("\(name): worst relative error \(worst.0) at \(worst.1)")
    }

    func testGemma2MatchesTransformers() throws { try checkParity("gemma2_tiny") }
    func testGemma3MatchesTransformers() throws { try checkParity("gemma3_tiny") }
    func testLlamaMatchesTransformers() throws { try checkParity("llama_tiny") }
    func testQwen2MatchesTransformers() throws { try checkParity("qwen2_tiny") }
    func testQwen3MatchesTransformers() throws { try checkParity("qwen3_tiny") }
    func testMistralMatchesTransformers() throws { try checkParity("mistral_tiny") }
    func testOLMo2MatchesTransformers() throws { try checkParity("olmo2_tiny") }
    func testGPT2MatchesTransformers() throws { try checkParity("gpt2_tiny") }
    func testPythiaMatchesTransformers() throws { try checkParity("pythia_tiny") }

    /// Every tiny fixture, one per family.
    static let all = ["gemma2_tiny", "gemma3_tiny", "llama_tiny", "qwen2_tiny", "qwen3_tiny", "mistral_tiny", "olmo2_tiny",
                      "gpt2_tiny", "pythia_tiny"]

    /// Prefill in pieces through the KV cache gives the same logits as one full pass.
    func testKVCacheMatchesFullPass() throws {
        for name in Self.all {
            let f = try Self.load(name)
            let tokens = f.sequences[1]
            let full = try f.model.backend.read(f.model.forward(tokens)!)
            let cache = try KVCache(model: f.model, capacity: tokens.count)
            var pieces: [Float] = []
            var at = 0
            for size in [3, 1, 2] + Array(repeating: 1, count: tokens.count) where at < tokens.count {
                let chunk = Array(tokens[at..<min(tokens.count, at + size)])
                pieces += try f.model.backend.read(f.model.forward(chunk, cache: cache)!)
                at += chunk.count
            }
            XCTAssertLessThanOrEqual(Self.relativeError(pieces, full), 1e-5, "\(name): cached vs full logits")
        }
    }

    /// Greedy generation with the cache picks the argmax of a full recomputation at every step,
    /// and the logits it chose from are those of the recomputation.
    func testGenerationMatchesRecomputation() throws {
        for name in Self.all {
            let f = try Self.load(name)
            let prompt = f.sequences[0]
            let gen = try f.model.generate(prompt: prompt, maxNewTokens: 12, stopAtEOS: false, keepLogits: true)
            XCTAssertEqual(gen.tokens.count, 12)
            let all = prompt + gen.tokens
            let full = try f.model.backend.read(f.model.forward(all)!)
            let vocab = f.model.config.vocabSize
            for step in 0..<gen.tokens.count {
                let row = Array(full[((prompt.count - 1 + step) * vocab)..<((prompt.count + step) * vocab)])
                XCTAssertEqual(Int32(Sampler.argmax(row)), gen.tokens[step], "\(name) step \(step)")
                XCTAssertLessThanOrEqual(Self.relativeError(gen.logits[step], row), 1e-5, "\(name) step \(step) logits")
            }
            if name == "llama_tiny" { XCTAssertGreaterThan(Set(gen.tokens).count, 3, "a varied continuation") }
        }
    }

    func testSamplingIsReproducible() throws {
        let f = try Self.load("gemma2_tiny")
        let sampler = Sampler(temperature: 0.9, topK: 40, topP: 0.95, seed: 7)
        let a = try f.model.generate(prompt: f.sequences[0], maxNewTokens: 10, sampler: sampler, stopAtEOS: false)
        let b = try f.model.generate(prompt: f.sequences[0], maxNewTokens: 10, sampler: sampler, stopAtEOS: false)
        XCTAssertEqual(a.tokens, b.tokens)
    }

    func testBadRequests() throws {
        let f = try Self.load("gemma2_tiny")
        let c = f.model.config
        XCTAssertThrowsError(try f.model.forward([2, Int32(c.vocabSize)])) {
            XCTAssertTrue("\($0)".contains("token id \(c.vocabSize) is out of range"), "\($0)")
        }
        XCTAssertThrowsError(try f.model.generate(prompt: [2, 3], maxNewTokens: c.contextLength)) {
            XCTAssertTrue("\($0)".contains("exceeds the model's context"), "\($0)")
        }
        XCTAssertThrowsError(try f.model.forward([]))
    }

    /// An intervention that returns its input unchanged leaves the logits bit-identical, and one
    /// that zeroes a residual changes them.
    func testInterventions() throws {
        let f = try Self.load("gemma2_tiny")
        let tokens = f.sequences[0]
        let clean = try f.model.backend.read(f.model.forward(tokens)!)
        let identity = Hooks()
        identity.intervene("blocks.*.hook_resid_post") { x, _ in x }
        XCTAssertEqual(try f.model.backend.read(f.model.forward(tokens, hooks: identity)!), clean)
        let zero = Hooks()
        zero.intervene("blocks.1.hook_mlp_out") { x, ctx in try ctx.backend.scale(x, by: 0) }
        XCTAssertNotEqual(try f.model.backend.read(f.model.forward(tokens, hooks: zero)!), clean)
    }
}
