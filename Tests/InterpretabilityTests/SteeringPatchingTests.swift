import Foundation
import XCTest
import CPUBackend
import LanternCore
import Models
@testable import Interpretability

final class SteeringPatchingTests: XCTestCase {
    func scopeSAE(_ model: Transformer) throws -> SAE {
        try SAE.load(path: Fixtures.path("sae/gemmascope/layer_1/width_96"), backend: model.backend)
    }

    /// Strength 0 reproduces the baseline exactly: same tokens, same logits, greedy and sampled.
    func testStrengthZeroIsTheBaseline() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let sae = try scopeSAE(model)
        let prompt = try Fixtures.sequences("gemma2_tiny")[0]
        for sampler in [Sampler.greedy, Sampler(temperature: 0.8, topK: 20, seed: 3)] {
            let steering = Steering(sae: sae, features: [3, 17], strength: 0)
            let base = try model.generate(prompt: prompt, maxNewTokens: 12, sampler: sampler, stopAtEOS: false, keepLogits: true)
            let steered = try model.generate(prompt: prompt, maxNewTokens: 12, sampler: sampler,
                                             hooks: try steering.hooks(for: model), stopAtEOS: false, keepLogits: true)
            XCTAssertEqual(steered.tokens, base.tokens)
            XCTAssertEqual(steered.logits, base.logits)
            let (b, s) = try steering.compare(model, prompt: prompt, maxNewTokens: 12, sampler: sampler, stopAtEOS: false)
            XCTAssertEqual(b.tokens, s.tokens)
        }
    }

    /// Add mode adds strength·W_dec[f] to every row; a strong push changes the continuation.
    func testAddModeAddsTheDirection() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let sae = try scopeSAE(model)
        let tokens = try Fixtures.sequences("gemma2_tiny")[0]
        let steering = Steering(sae: sae, features: [5], strength: 3)
        let clean = Hooks(capture: HookFilter([sae.hookName]))
        try model.forward(tokens, hooks: clean, logits: .none)
        let steered = try steering.hooks(for: model, capture: HookFilter([sae.hookName]))
        try model.forward(tokens, hooks: steered, logits: .none)
        let x = try model.backend.read(clean.activation(sae.hookName)!)
        let y = try model.backend.read(steered.activation(sae.hookName)!)
        let d = try sae.direction(5)
        for r in 0..<tokens.count { for i in 0..<64 { XCTAssertEqual(y[r * 64 + i], x[r * 64 + i] + 3 * d[i], accuracy: 1e-5) } }
        let big = try Steering(sae: sae, features: [5], strength: 200).compare(model, prompt: tokens, maxNewTokens: 8, stopAtEOS: false)
        XCTAssertNotEqual(big.baseline.tokens, big.steered.tokens)
    }

    /// With positions, only those rows are steered (add and clamp); a position past the prompt
    /// leaves the prompt's pass as it was.
    func testPositionsSteerOnlyTheirRows() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let sae = try scopeSAE(model)
        let tokens = try Fixtures.sequences("gemma2_tiny")[1], n = tokens.count
        let clean = Hooks(capture: HookFilter([sae.hookName]))
        try model.forward(tokens, hooks: clean, logits: .none)
        let x = try model.backend.read(clean.activation(sae.hookName)!), acts = try model.backend.read(try sae.encode(clean.activation(sae.hookName)!))
        let d = try sae.direction(5)
        for mode in [SteeringMode.add, .clamp] {
            let steering = Steering(sae: sae, features: [5], strength: 3, mode: mode, positions: [1, 3])
            let hooks = try steering.hooks(for: model, capture: HookFilter([sae.hookName]))
            try model.forward(tokens, hooks: hooks, logits: .none)
            let y = try model.backend.read(hooks.activation(sae.hookName)!)
            for r in 0..<n {
                let scale: Float = [1, 3].contains(r) ? (mode == .add ? 3 : 3 - acts[r * 96 + 5]) : 0
                for i in 0..<64 { XCTAssertEqual(y[r * 64 + i], x[r * 64 + i] + scale * d[i], accuracy: 1e-4, "\(mode) row \(r)") }
            }
        }
        let past = try Steering(sae: sae, features: [5], strength: 50, positions: [n + 2]).hooks(for: model, capture: HookFilter([sae.hookName]))
        try model.forward(tokens, hooks: past, logits: .none)
        XCTAssertEqual(try model.backend.read(past.activation(sae.hookName)!), x)
    }

    /// The fluency measure is minus the next-token loss over the continuation, as the streamed
    /// cross-entropies compute it (another path through the logits).
    func testFluencyIsMinusTheContinuationsLoss() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let tokens = try Fixtures.sequences("gemma2_tiny")[1]
        let prompt = Array(tokens.prefix(3)), continuation = Array(tokens.dropFirst(3))
        let losses = try NextTokenLoss.crossEntropies(model, tokens, hooks: nil)
        let expected = -(2..<(tokens.count - 1)).map { losses[$0]! }.reduce(0, +) / Double(continuation.count)
        XCTAssertEqual(try SteeringFluency.meanLogLikelihood(model, prompt: prompt, continuation: continuation), expected, accuracy: 1e-5)
    }

    /// Clamp changes only the clamped feature's term: y − x = (S − a_f)·W_dec[f] row by row.
    func testClampChangesOnlyThatFeature() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let sae = try scopeSAE(model)
        let tokens = try Fixtures.sequences("gemma2_tiny")[1]
        let clean = Hooks(capture: HookFilter([sae.hookName]))
        try model.forward(tokens, hooks: clean, logits: .none)
        let x = clean.activation(sae.hookName)!
        let acts = try model.backend.read(try sae.encode(x))
        let steered = try Steering(sae: sae, features: [7], strength: 4, mode: .clamp).hooks(for: model, capture: HookFilter([sae.hookName]))
        try model.forward(tokens, hooks: steered, logits: .none)
        let (xs, ys, d) = (try model.backend.read(x), try model.backend.read(steered.activation(sae.hookName)!), try sae.direction(7))
        for r in 0..<tokens.count {
            for i in 0..<64 { XCTAssertEqual(ys[r * 64 + i] - xs[r * 64 + i], (4 - acts[r * 96 + 7]) * d[i], accuracy: 1e-4) }
        }
    }

    func testPatchingFromTheSamePromptChangesNothing() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let tokens = try Fixtures.sequences("gemma2_tiny")[0]
        let effect = try Patching.patch(model, tokens: tokens, from: tokens, hook: "blocks.1.hook_resid_post", target: 7)
        XCTAssertEqual(effect.logitChange, 0)
        let none = try Patching.ablate(model, tokens: tokens, hook: "blocks.1.hook_mlp_out", kind: .zero, positions: [], target: 7)
        XCTAssertEqual(none.logitChange, 0)
    }

    /// Patching the whole residual at layer 0's input from another prompt of the same length
    /// gives that prompt's logits.
    func testPatchingEverythingGivesTheSourceRun() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let tokens: [Int32] = [2, 10, 20, 30], source: [Int32] = [2, 40, 50, 60]
        let sourceLogits = try model.backend.read(try model.forward(source, logits: .last)!)
        let effect = try Patching.patch(model, tokens: tokens, from: source, hook: "blocks.0.hook_resid_pre", target: 9)
        XCTAssertEqual(effect.patchedLogit, sourceLogits[9], accuracy: 1e-5)
        XCTAssertNotEqual(effect.logitChange, 0)
    }

    func testAblation() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let tokens = try Fixtures.sequences("gemma2_tiny")[1]
        let zero = try Patching.ablate(model, tokens: tokens, hook: "blocks.3.hook_mlp_out", kind: .zero, target: 11)
        let manual = Hooks()
        manual.intervene("blocks.3.hook_mlp_out") { x, ctx in try ctx.backend.scale(x, by: 0) }
        XCTAssertEqual(zero.patchedLogit, try model.backend.read(try model.forward(tokens, hooks: manual, logits: .last)!)[11])
        XCTAssertNotEqual(zero.logitChange, 0)
        // One row's mean is itself.
        let single = try Patching.ablate(model, tokens: [2], hook: "blocks.0.hook_attn_out", kind: .mean, target: 11)
        XCTAssertEqual(single.logitChange, 0, accuracy: 1e-6)
        XCTAssertThrowsError(try Patching.ablate(model, tokens: tokens, hook: "blocks.7.hook_mlp_out", kind: .zero, target: 1))
        XCTAssertThrowsError(try Patching.ablate(model, tokens: tokens, hook: "hook_embed", kind: .zero, positions: [99], target: 1))
    }
}
