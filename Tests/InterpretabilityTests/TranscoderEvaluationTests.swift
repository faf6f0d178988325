import CPUBackend
import LanternCore
import Models
import XCTest
@testable import Interpretability

/// `TranscoderEvaluator` on the tiny Gemma 3 with the Gemma Scope 2-layout fixture transcoders
/// (layers 3 and 4), against the same quantities computed another way: captured activations and
/// explicit interventions.
final class TranscoderEvaluationTests: XCTestCase {
    let backend = CPUBackend()

    func fixtures() throws -> (Transformer, [Transcoder], [Int32]) {
        let model = try Fixtures.model("gemma3_tiny", backend: backend)
        let set = try ["transcoder/layer_3_width_80_l0_small_affine", "transcoder/layer_4_width_64_l0_small"].map {
            try GemmaScope2.loadTranscoder(directory: Fixtures.path("gemma_scope2/" + $0), backend: backend)
        }
        var tokens: [Int32] = [2]
        for i in 0..<23 { tokens.append(Int32((i * 37 + 11) % 200 + 3)) }
        return (model, set, tokens)
    }

    func testFVUAndLossesMatchACapturedAndIntervenedRun() throws {
        let (model, set, tokens) = try fixtures()
        let evaluator = try TranscoderEvaluator(model: model, transcoders: set, each: true)
        try evaluator.evaluate(tokens)
        let report = evaluator.report
        XCTAssertEqual(report.tokens, tokens.count - 1, "BOS is not counted")

        // FVU from a plain capture, over positions 1..<n.
        let hooks = Hooks(capture: .all)
        try model.forward(tokens, hooks: hooks, logits: .none)
        for (t, m) in zip(set, report.layers) {
            let l = t.config.layer!
            XCTAssertEqual(m.layer, l)
            let x = hooks.activation("blocks.\(l).ln2.hook_normalized")!
            let y = try backend.read(hooks.activation("blocks.\(l).hook_mlp_out")!)
            let yHat = try backend.read(try t.reconstruct(x).output)
            let d = t.dOut, rows = Array(1..<tokens.count)
            var error = 0.0, total = 0.0
            for j in 0..<d {
                let mean = rows.reduce(0.0) { $0 + Double(y[$1 * d + j]) } / Double(rows.count)
                for r in rows {
                    error += pow(Double(y[r * d + j] - yHat[r * d + j]), 2)
                    total += pow(Double(y[r * d + j]) - mean, 2)
                }
            }
            XCTAssertEqual(m.fvu, error / total, accuracy: 1e-6 * max(1, error / total), "layer \(l)")
            XCTAssertGreaterThan(m.l0, 0)
        }

        // CE with both MLPs replaced, by hand: interventions that run each transcoder on the MLP
        // input of the same pass.
        let manual = Hooks()
        var inputs: [Int: Tensor] = [:]
        for t in set {
            let l = t.config.layer!
            manual.intervene("blocks.\(l).ln2.hook_normalized") { x, _ in inputs[l] = x; return x }
            manual.intervene("blocks.\(l).hook_mlp_out") { y, ctx in
                let out = try t.reconstruct(inputs[l]!).output
                try ctx.backend.copyRows(try y.rows(0..<1), into: out, at: 0)   // BOS keeps its own
                return out
            }
        }
        let replaced = try NextTokenLoss.crossEntropies(model, tokens, hooks: manual)
        let expected = (1..<(tokens.count - 1)).reduce(0.0) { $0 + replaced[$1]! } / Double(tokens.count - 2)
        XCTAssertEqual(report.ceAllReplaced, expected, accuracy: 1e-9)
        let clean = try NextTokenLoss.crossEntropies(model, tokens, hooks: nil)
        XCTAssertEqual(report.ceClean, (1..<(tokens.count - 1)).reduce(0.0) { $0 + clean[$1]! } / Double(tokens.count - 2),
                       accuracy: 1e-9)
        XCTAssertNotEqual(report.ceAllReplaced, report.ceClean)
        for m in report.layers { XCTAssertNotNil(m.ceScore(clean: report.ceClean)) }
    }

    /// A transcoder whose every weight is zero predicts an MLP output of 0: replacing with it is
    /// zero-ablation, so the CE-loss score is exactly 0.
    func testAZeroTranscoderIsZeroAblation() throws {
        let (model, set, tokens) = try fixtures()
        let zero = try set.map { t -> Transcoder in
            var w = try t.weights()
            w.wDec = w.wDec.map { _ in 0 }
            w.bDec = w.bDec.map { _ in 0 }
            w.skip = nil
            return try Transcoder(config: t.config, weights: w, backend: backend)
        }
        let evaluator = try TranscoderEvaluator(model: model, transcoders: zero, each: true)
        try evaluator.evaluate(tokens)
        let r = evaluator.report
        XCTAssertEqual(r.ceAllReplaced, r.ceAllZero, accuracy: 1e-12)
        XCTAssertEqual(r.ceScoreAll, 0, accuracy: 1e-9)
        for m in r.layers { XCTAssertEqual(m.ceReplaced!, m.ceZero!, accuracy: 1e-12) }
    }

    func testRefusesWhatIsNotAnMLPTranscoderSet() throws {
        let (model, set, _) = try fixtures()
        XCTAssertThrowsError(try TranscoderEvaluator(model: model, transcoders: [set[0], set[0]])) {
            XCTAssertTrue("\($0)".contains("a second transcoder for layer 3"), "\($0)")
        }
        XCTAssertThrowsError(try TranscoderEvaluator(model: model, transcoders: []))
        var c = set[0].config
        c.outputHook = "blocks.3.hook_resid_post"
        let misplaced = try Transcoder(config: c, weights: try set[0].weights(), backend: backend)
        XCTAssertThrowsError(try TranscoderEvaluator(model: model, transcoders: [misplaced])) {
            XCTAssertTrue("\($0)".contains("an MLP transcoder reads"), "\($0)")
        }
    }
}
