import Foundation
import XCTest
import CPUBackend
import LanternCore
import Models
@testable import Interpretability

/// Direct logit attribution on the tiny fixtures: the components add up to the logit difference
/// the model computes (before Gemma 2's final softcap), and each layer's heads add up to that
/// layer's hook_attn_out read through the same frozen final norm.
final class LogitAttributionTests: XCTestCase {
    /// Target: the model's top-1 at the last position; baseline: its least likely token.
    func targets(_ model: Transformer, _ tokens: [Int32]) throws -> (Int32, Int32) {
        let logits = try model.backend.read(model.forward(tokens, logits: .last)!)
        return (Int32(logits.indices.max { logits[$0] < logits[$1] }!), Int32(logits.indices.min { logits[$0] < logits[$1] }!))
    }

    func check(_ name: String) throws {
        let model = try Fixtures.model(name)
        let c = model.config
        for tokens in try Fixtures.sequences(name) {
            let (target, baseline) = try targets(model, tokens)
            let a = try DirectLogitAttribution.run(model, tokens: tokens, target: target, baseline: baseline)
            XCTAssertEqual(a.components.count, 1 + c.layerCount * (c.heads + 1))

            // The uncapped difference, independently: ln_final.hook_normalized through the bare unembedding.
            let hooks = Hooks(capture: HookFilter([HookNames.finalNorm, "blocks.*.hook_attn_out", "blocks.\(c.layerCount - 1).hook_resid_post"]))
            let capped = try model.backend.read(model.forward(tokens, hooks: hooks, logits: .last)!)
            let normed = try hooks.activation(HookNames.finalNorm)!.rows((tokens.count - 1)..<tokens.count)
            let raw = try model.backend.read(model.unembedDirect(normed))
            let uncapped = raw[Int(target)] - raw[Int(baseline)]
            XCTAssertEqual(a.logitDifference, capped[Int(target)] - capped[Int(baseline)])
            XCTAssertLessThanOrEqual(abs(a.componentSum - uncapped), 1e-4 * abs(uncapped), "\(name): Σ components vs the uncapped difference")
            XCTAssertLessThanOrEqual(abs(a.uncappedDifference - uncapped), 1e-4 * abs(uncapped))
            if let cap = c.finalSoftcap {
                let expected = cap * tanh(raw[Int(target)] / cap) - cap * tanh(raw[Int(baseline)] / cap)
                XCTAssertEqual(a.logitDifference, expected, accuracy: 1e-4 * abs(expected))
                XCTAssertGreaterThan(abs(a.remainder), 1e-3, "\(name): a softcap leaves a remainder")
            } else {
                XCTAssertLessThanOrEqual(abs(a.remainder), 1e-4 * abs(a.logitDifference), "\(name): nothing but rounding is left")
            }

            // Each layer's heads through the frozen final norm = its hook_attn_out the same way.
            let last = tokens.count - 1
            let final = try model.backend.read(hooks.activation("blocks.\(c.layerCount - 1).hook_resid_post")!.rows(last..<(last + 1)))
            let scale = 1 / (final.map { $0 * $0 }.reduce(0, +) / Float(c.hiddenSize) + c.rmsEps).squareRoot()
            let gain = try model.finalNormGain()
            let rows = try model.backend.read(model.unembeddingRows([target, baseline]))
            for l in 0..<c.layerCount {
                let out = try model.backend.read(hooks.activation("blocks.\(l).hook_attn_out")!.rows(last..<(last + 1)))
                var expected: Float = 0
                for j in 0..<c.hiddenSize { expected += out[j] * scale * gain[j] * (rows[j] - rows[c.hiddenSize + j]) }
                let heads = a.headGrid[l].reduce(0, +)
                XCTAssertEqual(heads, expected, accuracy: 1e-4 * max(1, abs(expected)), "\(name) layer \(l): heads vs hook_attn_out")
            }
        }
    }

    func testGemma2ComponentsSumToTheLogitDifference() throws { try check("gemma2_tiny") }
    func testGemma3ComponentsSumToTheLogitDifference() throws { try check("gemma3_tiny") }
    func testLlamaComponentsSumToTheLogitDifference() throws { try check("llama_tiny") }
    func testQwen2ComponentsSumToTheLogitDifference() throws { try check("qwen2_tiny") }
    func testQwen3ComponentsSumToTheLogitDifference() throws { try check("qwen3_tiny") }
    func testMistralComponentsSumToTheLogitDifference() throws { try check("mistral_tiny") }
    func testOLMo2ComponentsSumToTheLogitDifference() throws { try check("olmo2_tiny") }

    /// Every component against numpy's, computed from transformers' activations and the checkpoint
    /// (tools/make_dla_goldens.py → Tests/Fixtures/dla).
    func testComponentsMatchNumpy() throws {
        for name in Fixtures.allModelNames {
            let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("dla/\(name).json")))) as! [String: Any]
            let model = try Fixtures.model(name)
            let tokens = try Fixtures.sequences(name)[golden["sequence"] as! Int]
            let a = try DirectLogitAttribution.run(model, tokens: tokens, target: Int32(golden["target"] as! Int),
                                                   baseline: Int32(golden["baseline"] as! Int))
            let expected = (golden["components"] as! [[String: Any]]).map { ($0["name"] as! String, Float($0["value"] as! Double)) }
            XCTAssertEqual(a.components.map(\.name), expected.map(\.0), name)
            let scale = max(1, expected.map { abs($0.1) }.max()!)
            for (c, (label, value)) in zip(a.components, expected) {
                XCTAssertEqual(c.value, value, accuracy: 1e-4 * scale, "\(name) \(label)")
            }
            let uncapped = Float(golden["uncapped_logit_difference"] as! Double)
            XCTAssertEqual(a.logitDifference, Float(golden["logit_difference"] as! Double), accuracy: 1e-4 * abs(uncapped))
            // LayerNorm models: the final norm's bias and b_O are what the components leave out.
            let biasTerms = Float(golden["bias_terms"] as? Double ?? 0)
            XCTAssertEqual(a.componentSum + biasTerms, uncapped, accuracy: 1e-4 * abs(uncapped), name)
            if model.config.finalSoftcap == nil { XCTAssertEqual(a.remainder, biasTerms, accuracy: 1e-4 * max(1, abs(uncapped)), name) }
            XCTAssertEqual(a.layerNorm, model.config.layerNorm)
        }
    }

    /// Without a baseline the target's logit itself is attributed; ranking is by |value|.
    func testSingleLogitAndRanking() throws {
        let model = try Fixtures.model("gemma3_tiny")
        let tokens = try Fixtures.sequences("gemma3_tiny")[0]
        let logits = try model.backend.read(model.forward(tokens, logits: .last)!)
        let a = try DirectLogitAttribution.run(model, tokens: tokens, target: 7, baseline: nil)
        XCTAssertEqual(a.componentSum, logits[7], accuracy: 1e-4 * max(1, abs(logits[7])))
        let ranked = a.ranked().map { abs($0.value) }
        XCTAssertEqual(ranked, ranked.sorted(by: >))
        XCTAssertEqual(Set(a.ranked().map(\.name)).count, a.components.count)
        XCTAssertThrowsError(try DirectLogitAttribution.run(model, tokens: tokens, target: 9999, baseline: nil))
    }
}
