import Foundation
import XCTest
import CPUBackend
import LanternCore
import TestSupport
@testable import Models

/// Several generations stepped together (`Continuation.step(_:)`, `generate(prompts:)`, one
/// batched pass over their KV caches a step) give each prompt its own generation: the same tokens,
/// each step's logits within the batched pass's bound of the solo step's, hooks seeing each
/// sequence's own rows at its own positions.
final class BatchGenerationTests: XCTestCase {
    typealias F = FixtureParityTests

    /// Prompts of different lengths, so that the caches sit at different positions each step.
    static func prompts(_ sequences: [[Int32]]) -> [[Int32]] {
        [sequences[0], Array(sequences[1].prefix(3)), [sequences[0][0]], Array(sequences[1].prefix(6))]
    }

    func testSteppedTogetherEqualsEachAlone() throws {
        for name in ScoreScaleInterventionTests.families {
            let f = try F.load(name)
            let prompts = Self.prompts(f.sequences)
            for sampler in [Sampler.greedy, Sampler(temperature: 0.9, topK: 20, topP: 0.95, seed: 11)] {
                let together = try prompts.map {
                    try Continuation(model: f.model, prompt: $0, maxNewTokens: 5, sampler: sampler, stopAtEOS: false)
                }
                let alone = try prompts.map {
                    try Continuation(model: f.model, prompt: $0, maxNewTokens: 5, sampler: sampler, stopAtEOS: false)
                }
                var steps = 0
                while try Continuation.step(together).contains(where: { $0 != nil }) {
                    steps += 1
                    for (t, a) in zip(together, alone) where !a.finished {
                        _ = try a.step()
                        XCTAssertLessThanOrEqual(F.relativeError(try XCTUnwrap(t.lastLogits), try XCTUnwrap(a.lastLogits)),
                                                 BatchForwardTests.bound, "\(name) step \(steps)")
                    }
                }
                XCTAssertEqual(steps, 5, name)
                XCTAssertEqual(together.map(\.tokens), alone.map(\.tokens), "\(name) \(sampler.temperature)")
            }
        }
    }

    /// `generate(prompts:)` with a hook on every step: each sequence's hook sees its own rows at its
    /// own positions, and an intervention changes only its own generation, as alone.
    func testGenerateManyWithHooksEqualsEachAlone() throws {
        let f = try F.load("gemma2_tiny")
        let prompts = Self.prompts(f.sequences)
        func hooks() -> Hooks {
            let h = Hooks(capture: HookFilter(["blocks.1.hook_resid_post"]))
            h.intervene("blocks.0.hook_resid_post", HookInterventionTests.adding(at: 0))
            return h
        }
        let many = try f.model.generate(prompts: prompts, maxNewTokens: 4, hooks: { hooks() })
        for (prompt, got) in zip(prompts, many) {
            let alone = try f.model.generate(prompt: prompt, maxNewTokens: 4, hooks: hooks())
            XCTAssertEqual(got.tokens, alone.tokens, "\(prompt)")
            XCTAssertEqual(got.prompt, prompt)
        }
        let plain = try f.model.generate(prompts: prompts, maxNewTokens: 4)
        XCTAssertNotEqual(plain.map(\.tokens), many.map(\.tokens), "the intervention changes the generations")
    }

    /// A batch over caches captures each sequence's hook at its own positions, equal to the solo
    /// pass over the same cache; bad cache lists are refused.
    func testCachedBatchEqualsCachedSoloPasses() throws {
        let f = try F.load("gemma3_tiny")
        let prompts = Self.prompts(f.sequences)
        let caches = try prompts.map { _ in try KVCache(model: f.model, capacity: 32) }
        let solo = try prompts.map { _ in try KVCache(model: f.model, capacity: 32) }
        _ = try f.model.forward(batch: prompts, logits: .none, caches: caches)
        for (p, cache) in zip(prompts, solo) { try f.model.forward(p, cache: cache, logits: .none) }
        XCTAssertEqual(caches.map(\.length), prompts.map(\.count))
        let next: [[Int32]] = prompts.indices.map { [Int32(5 + $0), 9] }
        let hooks = next.map { _ in Hooks(capture: HookFilter(["blocks.1.attn.hook_pattern", "blocks.1.hook_resid_post"])) }
        let outs = try f.model.forward(batch: next, hooks: hooks, logits: .all, caches: caches)
        for i in next.indices {
            let h = Hooks(capture: HookFilter(["blocks.1.attn.hook_pattern", "blocks.1.hook_resid_post"]))
            let want = try f.model.backend.read(try XCTUnwrap(try f.model.forward(next[i], cache: solo[i], hooks: h, logits: .all)))
            XCTAssertLessThanOrEqual(F.relativeError(try f.model.backend.read(try XCTUnwrap(outs[i])), want), BatchForwardTests.bound)
            for (a, s) in zip(hooks[i].captured, h.captured) {
                XCTAssertEqual(a.tensor.shape, s.tensor.shape, "sequence \(i) \(a.name)")
                XCTAssertLessThanOrEqual(F.relativeError(try f.model.backend.read(a.tensor), try f.model.backend.read(s.tensor)),
                                         BatchForwardTests.bound, "sequence \(i) \(a.name)")
            }
        }
        XCTAssertThrowsError(try f.model.forward(batch: next, caches: [caches[0], caches[0], caches[1], caches[2]]))
        XCTAssertThrowsError(try f.model.forward(batch: next, caches: Array(caches.prefix(2))))
        let full = try KVCache(model: f.model, capacity: 2)
        XCTAssertThrowsError(try f.model.forward(batch: [[1, 2, 3], [4]], caches: [full, try KVCache(model: f.model, capacity: 2)]))
    }
}
