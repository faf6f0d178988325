import Foundation
import XCTest
import CPUBackend
import LanternCore
import TestSupport
@testable import Models

/// Sequences of different lengths run as one pass give each sequence its solo run: every hook
/// point and the logits within 3e-6 relative, with each sequence's own hooks (captures and
/// interventions seeing only its rows), on the seven tiny families and the real model. What
/// differs is summation order only: a row's products take the many-row kernel in the batch and,
/// in a short sequence's solo pass or a partial tile, the few-row one (1.8e-6 at most seen).
final class BatchForwardTests: XCTestCase {
    typealias F = FixtureParityTests
    static let bound: Float = 3e-6

    /// The fixture's sequences, and cuts of them, so that lengths differ (and windows are crossed).
    static func batch(_ sequences: [[Int32]]) -> [[Int32]] {
        sequences + [Array(sequences[0].prefix(3)), [sequences[1][0]], Array(sequences[1].prefix(7))]
    }

    static func compare(_ model: Transformer, _ sequences: [[Int32]], hooks make: (Int) -> Hooks,
                        logits: LogitRows = .all, file: StaticString = #filePath, line: UInt = #line) throws -> Float {
        let b = model.backend
        let batchHooks = sequences.indices.map(make)
        let batched = try model.forward(batch: sequences, hooks: batchHooks, logits: logits)
        var worst: Float = 0
        for (i, tokens) in sequences.enumerated() {
            let soloHooks = make(i)
            let solo = try b.read(try XCTUnwrap(try model.forward(tokens, hooks: soloHooks, logits: logits)))
            let got = try b.read(try XCTUnwrap(batched[i]))
            XCTAssertEqual(got.count, solo.count, "sequence \(i) logits", file: file, line: line)
            worst = max(worst, F.relativeError(got, solo))
            XCTAssertEqual(batchHooks[i].captured.map(\.name), soloHooks.captured.map(\.name), "sequence \(i)", file: file, line: line)
            for (a, s) in zip(batchHooks[i].captured, soloHooks.captured) {
                XCTAssertEqual(a.tensor.shape, s.tensor.shape, "sequence \(i) \(a.name)", file: file, line: line)
                let err = F.relativeError(try b.read(a.tensor), try b.read(s.tensor))
                XCTAssertLessThanOrEqual(err, Self.bound, "sequence \(i) \(a.name)", file: file, line: line)
                worst = max(worst, err)
            }
        }
        return worst
    }

    func testEverySequenceEqualsItsSoloRun() throws {
        for name in ScoreScaleInterventionTests.families {
            let f = try F.load(name)
            let sequences = Self.batch(f.sequences)
            let worst = try Self.compare(f.model, sequences) { _ in Hooks(capture: .all) }
            XCTAssertLessThanOrEqual(worst, Self.bound, name)
            XCTAssertLessThanOrEqual(try Self.compare(f.model, sequences, hooks: { _ in Hooks() }, logits: .last), Self.bound, name)
            print("\(name): batch of \(sequences.count), worst relative difference from solo runs \(worst)")
        }
    }

    /// Each sequence's interventions act on its rows only: an edit in one sequence leaves the
    /// others as they were, and equals the same edit in that sequence's solo pass.
    func testInterventionsStayInTheirSequence() throws {
        let f = try F.load("gemma2_tiny")
        let sequences = Self.batch(f.sequences)
        let worst = try Self.compare(f.model, sequences) { i in
            let hooks = Hooks(capture: HookFilter(["blocks.1.*", "ln_final.*"]))
            switch i % 4 {
            case 0: hooks.intervene("blocks.1.hook_resid_post", HookInterventionTests.adding(at: 0))
            case 1: hooks.intervene("blocks.1.attn.hook_pattern", PatternInterventionTests.editing(head: 1) { _, p in
                        for j in p.indices { p[j] = 0 } })
            case 2: hooks.intervene("blocks.0.ln1.hook_scale", ScoreScaleInterventionTests.scaling(2))
                    hooks.intervene("blocks.1.attn.hook_attn_scores", ScoreScaleInterventionTests.boostKey0)
            default: break
            }
            return hooks
        }
        XCTAssertLessThanOrEqual(worst, Self.bound)
    }

    func testRealModelBatch() throws {
        let model = try Transformer(gguf: try requireModel("gemma3-270m"), backend: CPUBackend())
        let sequences: [[Int32]] = [[2, 818, 21016, 529, 24612, 563, 1401], [2, 651, 6037], Array(repeating: 1401, count: 40)]
        let worst = try Self.compare(model, sequences) { _ in Hooks(capture: HookFilter(["blocks.*.hook_resid_post"])) }
        XCTAssertLessThanOrEqual(worst, Self.bound)
    }
}
