import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
@testable import Models

/// An edit at every hook point feeds the pass exactly as the same edit, made with torch hooks where
/// transformers computes that activation, does: 0.5·sin(1 + j) added to column j of position 2
/// (tools/make_intervention_goldens.py, "add:{hook}:logits"), on every tiny family: each hook
/// point the family has (OLMo 2 has no ln1/ln2, Gemma 3, Qwen 3 and OLMo 2 add q/k_normed).
final class HookInterventionTests: XCTestCase {
    typealias F = FixtureParityTests

    static func adding(at position: Int) -> HookFunction {
        { x, ctx in
            var v = try ctx.backend.read(x)
            for j in 0..<x.width { v[position * x.width + j] += 0.5 * Float(sin(Double(j + 1))) }
            return try ctx.backend.tensor(v, shape: x.shape)
        }
    }

    func testEveryHookEditMatchesTransformers() throws {
        for name in ScoreScaleInterventionTests.families {
            let f = try F.load(name)
            let folder = F.fixtures.appendingPathComponent("interventions")
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("\(name).json"))) as! [String: Any]
            let tokens = (meta["tokens"] as! [Int]).map(Int32.init)
            let golden = try SafetensorsFile(path: folder.appendingPathComponent("\(name)_hooks.safetensors").path)
            let clean = try f.model.backend.read(f.model.forward(tokens)!)
            // Every hook point the model lists is edited here, by these goldens or another file's.
            let elsewhere = ["attn.hook_pattern", "attn.hook_attn_scores", ".hook_scale", "attn.hook_result"]
            let layer1 = HookNames.all(f.model.config).filter {
                ($0.hasPrefix("blocks.1.") || !$0.hasPrefix("blocks.")) && !elsewhere.contains(where: $0.hasSuffix)
            }
            let edited = Set(golden.tensorNames.map { $0.dropFirst("add:".count).dropLast(":logits".count) }.map(String.init))
            XCTAssertEqual(Set(layer1), edited, "\(name): hook points and golden edits differ")
            for hook in layer1 {
                let hooks = Hooks()
                hooks.intervene(hook, Self.adding(at: 2))
                let logits = try f.model.backend.read(f.model.forward(tokens, hooks: hooks)!)
                XCTAssertLessThanOrEqual(F.relativeError(logits, try golden.tensor("add:\(hook):logits").floats()), 1e-5,
                                         "\(name) \(hook): logits as transformers'")
                XCTAssertGreaterThan(F.relativeError(logits, clean), 1e-4, "\(name) \(hook): the edit changes the logits")
            }
        }
    }
}
