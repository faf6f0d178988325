import Foundation
import XCTest
import CPUBackend
import LanternCore
import Models
@testable import Interpretability

/// Patching sweeps on the tiny fixtures, against what patching must do by construction (causality,
/// the last residual deciding the logits) and against single patches made by hand.
final class PatchingSweepTests: XCTestCase {
    // The prompts differ at position 2 only.
    let clean: [Int32] = [2, 10, 20, 30, 40], corrupted: [Int32] = [2, 10, 77, 30, 40]

    func sweep(_ name: String) throws -> (Transformer, PatchingSweep) {
        let model = try Fixtures.model(name)
        let logits = try model.backend.read(model.forward(clean, logits: .last)!)
        let target = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
        let baseline = Int32(logits.indices.min { logits[$0] < logits[$1] }!)
        return (model, try PatchingSweep(model: model, clean: clean, corrupted: corrupted, target: target, baseline: baseline))
    }

    func testResidualSweepFollowsCausality() throws {
        for name in Fixtures.allModelNames {
            let (model, s) = try sweep(name)
            let layers = model.config.layerCount
            let result = try s.run(["blocks.*.hook_resid_pre", "blocks.\(layers - 1).hook_resid_post"])
            let pre = try XCTUnwrap(result.grid(family: "blocks.*.hook_resid_pre"))
            XCTAssertEqual(pre.rows.map(\.layer), Array(0..<layers).map { $0 })
            XCTAssertEqual(pre.values.map(\.count), Array(repeating: clean.count, count: layers))
            // A cell that changes nothing is 1 up to the KV cache's rounding of the logit difference
            // (~1e-6 of it), divided by the span the metric normalises by: 1e-5 where the prompts move
            // the difference by as much as it is, more for OLMo 2's (by 0.07 of 4.5).
            let span = abs(s.cleanDifference - s.corruptedDifference)
            let unchanged = max(1e-5, 2e-6 * max(abs(s.cleanDifference), abs(s.corruptedDifference)) / span)
            for (r, row) in pre.values.enumerated() {
                // Positions 0, 1 hold the same residual in both runs (causal): nothing changes.
                XCTAssertEqual(row[0], 1, accuracy: unchanged, "\(name) layer \(r)")
                XCTAssertEqual(row[1], 1, accuracy: unchanged, "\(name) layer \(r)")
            }
            // At layer 0 only the differing token's embedding matters, and patching it there is the corrupted run.
            XCTAssertEqual(pre.values[0][3], 1, accuracy: unchanged, name)
            XCTAssertEqual(pre.values[0][2], 0, accuracy: 1e-4, "\(name): the whole difference enters at position 2")
            // The last residual at the last position decides the logits: patching it gives the corrupted run.
            let post = try XCTUnwrap(result.grid(family: "blocks.*.hook_resid_post"), "a family names its layer by *")
            XCTAssertEqual(post.rows.map(\.layer), [layers - 1])
            XCTAssertEqual(post.values[0][clean.count - 1], 0, accuracy: 1e-4, "\(name)")
            XCTAssertEqual(post.values[0][2], 1, accuracy: unchanged, "\(name)")
            // Every cell is a single patch as Patching makes it.
            let single = try Patching.patch(model, tokens: clean, from: corrupted, hook: "blocks.1.hook_resid_pre", positions: [3], target: s.target)
            let other = try Patching.patch(model, tokens: clean, from: corrupted, hook: "blocks.1.hook_resid_pre", positions: [3], target: s.baseline!)
            XCTAssertEqual(pre.logitDifferences[1][3], single.patchedLogit - other.patchedLogit, accuracy: 1e-5)
            XCTAssertEqual(pre.values[1][3], s.normalised(pre.logitDifferences[1][3]))
        }
    }

    /// attn.hook_z is swept head by head; a cell is that head's slice replaced by hand.
    func testPerHeadSweepOfZ() throws {
        let (model, s) = try sweep("gemma3_tiny")
        let c = model.config
        let result = try s.run(["blocks.*.attn.hook_z"])
        let grid = result.grids[0]
        XCTAssertEqual(grid.family, "blocks.*.attn.hook_z")
        XCTAssertEqual(grid.rows.count, c.layerCount * c.heads)
        XCTAssertEqual(grid.rows[5].label, "1.1")
        XCTAssertEqual(grid.rows[5].columns, c.headDim..<(2 * c.headDim))
        for row in grid.values { XCTAssertEqual(row[1], 1, accuracy: 1e-5) }

        let capture = Hooks(capture: HookFilter(["blocks.3.attn.hook_z"]))
        try model.forward(corrupted, hooks: capture, logits: .none)
        let source = try model.backend.read(capture.activation("blocks.3.attn.hook_z")!)
        let (head, p) = (2, 4)
        let manual = Hooks()
        manual.intervene("blocks.3.attn.hook_z") { x, ctx in
            var v = try ctx.backend.read(x)
            for k in 0..<c.headDim { v[p * x.width + head * c.headDim + k] = source[p * x.width + head * c.headDim + k] }
            return try ctx.backend.tensor(v, shape: x.shape)
        }
        let logits = try model.backend.read(model.forward(clean, hooks: manual, logits: .last)!)
        let r = grid.rows.firstIndex { $0.layer == 3 && $0.head == head }!
        XCTAssertEqual(grid.logitDifferences[r][p], logits[Int(s.target)] - logits[Int(s.baseline!)], accuracy: 1e-5)
        XCTAssertNotEqual(grid.values[r][p], 1, "patching a head at the last position changes something")

        let agreement = try grid.agreement(with: grid)
        XCTAssertEqual(agreement.correlation, 1, accuracy: 1e-9)
        XCTAssertEqual(agreement.maxAbsDifference, 0)
    }

    func testBadSweepsAreRefused() throws {
        let model = try Fixtures.model("gemma2_tiny")
        XCTAssertThrowsError(try PatchingSweep(model: model, clean: clean, corrupted: [2, 10, 20], target: 5, baseline: 6)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("5 tokens") && text.contains("is 3"), text)
        }
        XCTAssertThrowsError(try PatchingSweep(model: model, clean: clean, corrupted: clean, target: 5, baseline: 6)) { error in
            XCTAssertTrue("\(error)".contains("nothing to normalise"), "\(error)")
        }
        let s = try PatchingSweep(model: model, clean: clean, corrupted: corrupted, target: 5, baseline: 6)
        XCTAssertThrowsError(try s.families(["blocks.*.hook_nothing"]))
        XCTAssertThrowsError(try s.families(["blocks.0.attn.hook_pattern"]))
        let families = try s.families(["blocks.*.hook_resid_pre", "blocks.0.*resid_pre", "hook_embed"])
        XCTAssertEqual(families.map(\.family), ["blocks.*.hook_resid_pre", "hook_embed"])
        XCTAssertEqual(families[0].rows.count, 4, "a hook matched twice is swept once")
    }
}
