import Foundation
import XCTest
import CPUBackend
import LanternCore
import Models
@testable import Interpretability

/// The dark-matter report on a model: the figures recomputed by hand from the same run.
final class SAEEvaluationTests: XCTestCase {
    func testFiguresOverTwoTexts() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let sae = try SAE.load(path: Fixtures.path("sae/saelens_relu_bdec"), backend: model.backend)
        let texts = try Fixtures.sequences("gemma2_tiny")
        let evaluator = try SAEEvaluator(model: model, sae: sae)
        var stats = ReconstructionStats(width: sae.dIn)
        var fired = Set<Int>(), l0 = 0, tokens = 0, ceClean = 0.0, count = 0
        for text in texts {
            let perToken = try evaluator.evaluate(text)
            XCTAssertEqual(perToken.map(\.position), Array(1..<text.count), "BOS left out")
            let run = try sae.run(on: model, tokens: text)
            let logits = try model.backend.read(try model.forward(text)!)
            let vocab = model.config.vocabSize
            for m in perToken {
                let p = m.position
                stats.add(run.row(run.input, p, width: sae.dIn), run.row(run.reconstruction, p, width: sae.dIn))
                let acts = Array(run.row(run.acts, p, width: sae.dSAE))
                XCTAssertEqual(m.l0, acts.filter { $0 > 0 }.count)
                l0 += m.l0; tokens += 1
                for (f, a) in acts.enumerated() where a > 0 { fired.insert(f) }
                guard p + 1 < text.count else { XCTAssertNil(m.ceClean); continue }
                let row = logits[(p * vocab)..<((p + 1) * vocab)].map(Double.init)
                let top = row.max()!
                let expected = log(row.reduce(0) { $0 + exp($1 - top) }) + top - row[Int(text[p + 1])]
                XCTAssertEqual(m.ceClean!, expected, accuracy: 1e-4)
                ceClean += expected; count += 1
            }
        }
        let o = evaluator.overall
        XCTAssertEqual(o.tokens, tokens)
        XCTAssertEqual(o.l0, Double(l0) / Double(tokens), accuracy: 1e-9)
        XCTAssertEqual(o.explainedVariance, stats.explainedVariance, accuracy: 1e-9)
        XCTAssertEqual(o.deadFeatures, sae.dSAE - fired.count)
        XCTAssertEqual(o.ceClean, ceClean / Double(count), accuracy: 1e-4)
        XCTAssertEqual(o.ceScore, (o.ceZero - o.ceSAE) / (o.ceZero - o.ceClean), accuracy: 1e-12)
        XCTAssertEqual(try SAEEvaluator(model: model, sae: sae, includeBOS: true).evaluate(texts[0]).count, texts[0].count)
    }

    /// An SAE that reconstructs perfectly (identity weights, no bias) would score 1; here a splice
    /// that returns x itself must leave the CE exactly clean.
    func testSplicingTheIdentityChangesNothing() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let sae = try SAE.load(path: Fixtures.path("sae/saelens_relu_bdec"), backend: model.backend)
        let evaluator = try SAEEvaluator(model: model, sae: sae)
        let text = try Fixtures.sequences("gemma2_tiny")[0]
        let clean = try NextTokenLoss.crossEntropies(model, text, hooks: nil)
        let identity = try NextTokenLoss.crossEntropies(model, text, hooks: evaluator.splice(keep: Set(text.indices)) { $0 })
        XCTAssertEqual(identity, clean)
    }
}
