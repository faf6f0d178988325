import Foundation
import XCTest
import CPUBackend
import LanternCore
import Models
@testable import Interpretability

/// Attribution patching (`PatchingSweep.approximate`) against the real sweep on the tiny fixtures:
/// equal where the metric is linear in the patched activation, close where it is not.
final class AttributionPatchingTests: XCTestCase {
    let clean: [Int32] = [2, 10, 20, 30, 40], corrupted: [Int32] = [2, 10, 77, 30, 40]

    func sweep(_ name: String) throws -> PatchingSweep {
        let model = try Fixtures.model(name)
        let logits = try model.backend.read(model.forward(clean, logits: .last)!)
        let target = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
        let baseline = Int32(logits.indices.min { logits[$0] < logits[$1] }!)
        return try PatchingSweep(model: model, clean: clean, corrupted: corrupted, target: target, baseline: baseline)
    }

    /// The logits are linear in the final norm's output (no final softcap in Gemma 3 and Llama), so
    /// the first-order estimate is the patch itself; unchanged positions are exactly 1 in both.
    func testExactWhereTheMetricIsLinear() throws {
        for name in ["gemma3_tiny", "llama_tiny"] {
            let s = try sweep(name)
            let family = HookNames.finalNorm
            let real = try XCTUnwrap(s.run([family]).grid(family: family))
            let estimate = try XCTUnwrap(s.approximate([family]).first)
            XCTAssertEqual(estimate.method, .attribution)
            XCTAssertEqual(estimate.rows, real.rows)
            for (a, b) in zip(estimate.values[0], real.values[0]) { XCTAssertEqual(a, b, accuracy: 1e-4, name) }
            XCTAssertEqual(real.values[0].last!, 0, accuracy: 1e-4, "\(name): the last row decides the logits")
        }
    }

    /// Elsewhere the estimate is the directional derivative along the patch: patching
    /// a + ε·(a_corrupted − a) for a small ε moves the metric by ε times the estimate's change, at
    /// every cell checked (whole residual rows, and one head's slice of hook_z). How far the full
    /// patch is from first order depends on the model (printed: the random tiny models are far
    /// from linear for a whole-token swap; the default model's figures are in the README).
    func testIsTheDirectionalDerivativeAlongEachPatch() throws {
        let eps: Float = 1e-3
        for name in Fixtures.allModelNames {
            let s = try sweep(name)
            let model = s.model, b = model.backend
            let patterns = ["blocks.*.hook_resid_pre", "blocks.*.attn.hook_z"]
            let real = try s.run(patterns)
            let span = s.cleanDifference - s.corruptedDifference
            for estimate in try s.approximate(patterns) {
                let (correlation, _) = try estimate.agreement(with: try XCTUnwrap(real.grid(family: estimate.family)))
                print(String(format: "%@ %@: attribution vs activation patching, correlation %.3f", name, estimate.family, correlation))
                for (r, row) in estimate.rows.enumerated() where r % 3 == 0 {
                    let capture = Hooks(capture: HookFilter([row.hook]))
                    try model.forward(clean, hooks: capture, logits: .none)
                    let cleanRows = try b.read(capture.activation(row.hook)!)
                    try model.forward(corrupted, hooks: capture, logits: .none)
                    let corruptedRows = try b.read(capture.activation(row.hook)!)
                    let nudged = try b.tensor(zip(cleanRows, corruptedRows).map { $0 + eps * ($1 - $0) },
                                              shape: [clean.count, cleanRows.count / clean.count])
                    for p in [2, 3, 4] {
                        let logits = try b.read(model.forward(clean, hooks: Patching.patch(row.hook, from: nudged, positions: [p], columns: row.columns), logits: .last)!)
                        let moved = (logits[Int(s.target)] - logits[Int(s.baseline!)] - s.cleanDifference) / eps
                        let predicted = (estimate.values[r][p] - 1) * span
                        XCTAssertEqual(moved, predicted, accuracy: 2e-2 * max(1, abs(predicted)), "\(name) \(row.hook) head \(String(describing: row.head)) position \(p)")
                    }
                }
            }
        }
    }
}
