import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
@testable import Models

/// `attn.hook_attn_scores` and the norms' `hook_scale` hold what transformers computes there (the
/// softmax's input, masked keys −∞; each row's √(mean(x²) + ε)), and an edit at either changes the
/// pass exactly as the same edit of transformers' attention or norm does (goldens from
/// tools/make_intervention_goldens.py), on every tiny family (OLMo 2 has no ln1/ln2: its only
/// norm scale is ln_final's).
final class ScoreScaleInterventionTests: XCTestCase {
    typealias F = FixtureParityTests
    static let families = FixtureParityTests.all

    func golden(_ name: String) throws -> (tokens: [Int32], file: SafetensorsFile) {
        let folder = F.fixtures.appendingPathComponent("interventions")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("\(name).json"))) as! [String: Any]
        return ((meta["tokens"] as! [Int]).map(Int32.init), try SafetensorsFile(path: folder.appendingPathComponent("\(name).safetensors").path))
    }

    /// Multiplies a scale [n, 1] by `factor`, at `position` only when given.
    static func scaling(_ factor: Float, position: Int? = nil) -> HookFunction {
        { x, ctx in
            var s = try ctx.backend.read(x)
            for i in s.indices where position == nil || i == position { s[i] *= factor }
            return try ctx.backend.tensor(s, shape: x.shape)
        }
    }

    /// Adds 3 to one head's score for key 0 on every query row (scores [heads, n, keys]).
    static func boostKey0(_ x: Tensor, _ ctx: HookContext) throws -> Tensor {
        var s = try ctx.backend.read(x)
        let (n, keys) = (x.shape[1], x.shape[2])
        for q in 0..<n { s[q * keys] += 3 }
        return try ctx.backend.tensor(s, shape: x.shape)
    }

    func testScoresAndScalesMatchTransformers() throws {
        for name in Self.families {
            let f = try F.load(name)
            let (tokens, golden) = try golden(name)
            let hooks = Hooks(capture: HookFilter(["*.hook_attn_scores", "*.hook_scale"]))
            _ = try f.model.forward(tokens, hooks: hooks)
            let layers = f.model.config.layerCount, norms = f.model.config.preNorms
            let names = (0..<layers).flatMap { ["blocks.\($0).attn.hook_attn_scores"] + (norms ? ["blocks.\($0).ln1.hook_scale", "blocks.\($0).ln2.hook_scale"] : []) }
                + ["ln_final.hook_scale"]
            XCTAssertEqual(hooks.captured.map(\.name), HookNames.all(f.model.config).filter { names.contains($0) }, "\(name): forward order")
            for hook in names {
                let expected = try golden.tensor("clean:\(hook)")
                let tensor = try XCTUnwrap(hooks.activation(hook), "\(name) \(hook)")
                XCTAssertEqual(tensor.shape, expected.shape, "\(name) \(hook)")
                let got = try f.model.backend.read(tensor), want = try expected.floats()
                XCTAssertEqual(got.map { $0 == -.infinity }, want.map { $0 == -.infinity }, "\(name) \(hook): the same keys masked")
                let finite = zip(got, want).filter { $0.1.isFinite }
                XCTAssertLessThanOrEqual(F.relativeError(finite.map(\.0), finite.map(\.1)), 1e-5, "\(name) \(hook)")
            }
        }
    }

    func testScoreAndScaleEditsMatchTransformers() throws {
        for name in Self.families {
            let f = try F.load(name)
            let (tokens, golden) = try golden(name)
            let last = f.model.config.layerCount - 1
            let clean = try f.model.backend.read(f.model.forward(tokens)!)
            let edits: [(name: String, hook: String, body: HookFunction)] = [
                ("score_boost", "blocks.1.attn.hook_attn_scores", Self.boostKey0),
                ("scale_ln1", "blocks.0.ln1.hook_scale", Self.scaling(2, position: 1)),
                ("scale_ln2", "blocks.\(last).ln2.hook_scale", Self.scaling(1.5)),
                ("scale_final", "ln_final.hook_scale", Self.scaling(0.5)),
            ].filter { f.model.config.preNorms || !$0.hook.contains(".ln") }
            for edit in edits {
                let hooks = Hooks(capture: HookFilter(["blocks.1.attn.hook_pattern"]))
                hooks.intervene(edit.hook, edit.body)
                let logits = try f.model.backend.read(f.model.forward(tokens, hooks: hooks)!)
                XCTAssertLessThanOrEqual(F.relativeError(logits, try golden.tensor("\(edit.name):logits").floats()), 1e-5,
                                         "\(name) \(edit.name): logits as transformers'")
                XCTAssertGreaterThan(F.relativeError(logits, clean), 1e-3, "\(name) \(edit.name): the edit changes the logits")
                if edit.name == "score_boost" {
                    // The cache shows the pattern the edited scores imply: rows still sum to 1.
                    let p = try f.model.backend.read(try XCTUnwrap(hooks.activation("blocks.1.attn.hook_pattern")))
                    let n = tokens.count
                    XCTAssertEqual(p[(n - 1) * n..<(n * n)].reduce(0, +), 1, accuracy: 1e-5)
                }
            }
        }
    }

    /// Interventions that return the scores or the scales unchanged recompute the softmax, P·V and
    /// the norm on the host: the same pass to rounding, with the KV cache too.
    func testUnchangedScoresAndScalesKeepThePass() throws {
        for name in Self.families {
            let f = try F.load(name)
            let tokens = f.sequences[1], vocab = f.model.config.vocabSize
            let clean = try f.model.backend.read(f.model.forward(tokens)!)
            let hooks = Hooks()
            hooks.intervene("blocks.*.attn.hook_attn_scores") { x, _ in x }
            hooks.intervene("*.hook_scale") { x, _ in x }
            XCTAssertLessThanOrEqual(F.relativeError(try f.model.backend.read(f.model.forward(tokens, hooks: hooks)!), clean), 1e-5, name)
            let cache = try KVCache(model: f.model, capacity: tokens.count)
            _ = try f.model.forward(Array(tokens[0..<4]), cache: cache, hooks: hooks, logits: .none)
            for i in 4..<tokens.count {
                let step = try f.model.backend.read(f.model.forward([tokens[i]], cache: cache, hooks: hooks, logits: .last)!)
                XCTAssertLessThanOrEqual(F.relativeError(step, Array(clean[(i * vocab)..<((i + 1) * vocab)])), 1e-5, "\(name) step \(i)")
            }
        }
    }
}
