import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
import Models
@testable import Interpretability

/// The corpus scan and dashboards against a direct, per-feature computation.
final class FeatureDashboardTests: XCTestCase {
    func fixtures() throws -> (Transformer, SAE) {
        let model = try Fixtures.model("gemma2_tiny")
        return (model, try SAE.load(path: Fixtures.path("sae/gemmascope/layer_1/width_96"), backend: model.backend))
    }

    /// Deterministic contexts, BOS first, with repeats so that features fire in several contexts.
    func contexts(count: Int, length: Int) -> [[Int32]] {
        var state: UInt32 = 12345
        return (0..<count).map { _ in
            [2] + (1..<length).map { _ in state = state &* 1_664_525 &+ 1_013_904_223; return Int32(3 + (state >> 16) % 60) }
        }
    }

    func testTopContextsDensityAndMeansMatchADirectComputation() throws {
        let (model, sae) = try fixtures()
        var options = FeatureScan.Options()
        (options.topExamples, options.before, options.after) = (3, 4, 2)
        let scan = FeatureScan(width: sae.dSAE, bos: 2, options: options)
        let texts = contexts(count: 6, length: 20)
        var acts: [[Float]] = []
        for t in texts {
            try scan.add(context: t, model: model, units: sae)
            acts.append(try sae.run(on: model, tokens: t).acts)
        }
        XCTAssertEqual(scan.tokens, 6 * 19, "BOS left out")
        var checked = 0
        for f in 0..<sae.dSAE {
            // Every (context, position) but BOS: the feature's activation there.
            var values: [Float] = [], perContext: [(context: Int, position: Int, value: Float)] = []
            for (c, t) in texts.enumerated() {
                let column = t.indices.map { t[$0] == 2 ? 0 : acts[c][$0 * sae.dSAE + f] }
                values += column.dropFirst()
                let best = column.max()!
                if best > 0 { perContext.append((c, column.firstIndex(of: best)!, best)) }
            }
            let fired = values.filter { $0 > 0 }
            let s = scan.summary(f)
            XCTAssertEqual(s.firing, fired.count, "feature \(f)")
            XCTAssertEqual(s.density, Double(fired.count) / Double(6 * 19), accuracy: 1e-12)
            XCTAssertEqual(s.maxActivation, fired.max() ?? 0)
            XCTAssertEqual(s.meanActivation, fired.isEmpty ? 0 : fired.reduce(0.0) { $0 + Double($1) } / Double(fired.count), accuracy: 1e-6)
            let expected = perContext.enumerated().sorted { a, b in
                a.element.value != b.element.value ? a.element.value > b.element.value : a.offset < b.offset
            }.prefix(3).map(\.element)
            let got = scan.examples(f)
            XCTAssertEqual(got.map(\.context), expected.map(\.context), "feature \(f)")
            XCTAssertEqual(got.map(\.position), expected.map(\.position), "feature \(f)")
            for (e, x) in zip(got, expected) {
                let start = max(0, x.position - 4), end = min(20, x.position + 3)
                XCTAssertEqual(e.tokens, Array(texts[x.context][start..<end]))
                XCTAssertEqual(e.activations, (start..<end).map { $0 == 0 ? 0 : acts[x.context][$0 * sae.dSAE + f] })
                XCTAssertEqual(e.tokens[e.maxIndex], texts[x.context][x.position])
                XCTAssertEqual(e.maxActivation, x.value)
            }
            if !got.isEmpty { checked += 1 }
        }
        XCTAssertGreaterThan(checked, 10, "enough features fired to test anything")
        let ranked = scan.ranked(by: .max, count: 5)
        XCTAssertEqual(ranked.map(\.maxActivation), ranked.map(\.maxActivation).sorted(by: >))
        XCTAssertEqual(ranked.first?.maxActivation, (0..<sae.dSAE).map { scan.summary($0).maxActivation }.max())
    }

    /// (W_dec[f] ⊙ (1 + w_final)) · W_Uᵀ by plain loops over the checkpoint's (tied) unembedding and
    /// final-norm weight: the gain folded in as TransformerLens's fold_ln does, no 1/rms, no softcap.
    func testLogitEffectsMatchAPlainReference() throws {
        let (model, sae) = try fixtures()
        let checkpoint = try Checkpoint(directory: Fixtures.path("gemma2_tiny"))
        let unembedding = try checkpoint.tensor(checkpoint.has("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight").floats()
        let finalWeight = try checkpoint.tensor("model.norm.weight").floats()   // Gemma: gain 1 + w
        let (d, vocab) = (sae.dIn, model.config.vocabSize)
        XCTAssertNotNil(model.config.finalSoftcap, "the fixture has a softcap, which the effects must not apply")
        for f in [0, 7, 95] {
            let direction = zip(try sae.direction(f), finalWeight).map { $0 * (1 + $1) }
            let reference = (0..<vocab).map { v in (0..<d).reduce(Float(0)) { $0 + direction[$1] * unembedding[v * d + $1] } }
            let effects = try LogitEffects.of(feature: f, sae: sae, model: model, count: 6)
            let up = reference.indices.sorted { reference[$0] > reference[$1] }.prefix(6)
            let down = reference.indices.sorted { reference[$0] < reference[$1] }.prefix(6)
            XCTAssertEqual(effects.positive.map { Int($0.token) }, Array(up), "feature \(f)")
            XCTAssertEqual(effects.negative.map { Int($0.token) }, Array(down), "feature \(f)")
            for t in effects.positive + effects.negative {
                XCTAssertEqual(t.logit, reference[Int(t.token)], accuracy: 1e-4 * max(1, abs(reference[Int(t.token)])))
            }
        }
        XCTAssertThrowsError(try FeatureDashboard(feature: 96, scan: FeatureScan(width: 96, bos: 2), sae: sae, model: model))
    }

    func testHistogramDensityAndSampling() throws {
        var options = FeatureScan.Options()
        options.histogramSample = 50
        let scan = FeatureScan(width: 2, bos: 2, options: options)
        // Feature 0 fires 1, 2, …, 100 on tokens 1…100 (BOS at 0 has a large value that must not count);
        // feature 1 never fires.
        var acts = [Float](repeating: 0, count: 101 * 2)
        acts[0] = 1000
        for p in 1...100 { acts[p * 2] = Float(p) }
        scan.add(activations: acts, tokens: [2] + [Int32](repeating: 5, count: 100))
        XCTAssertEqual(scan.summary(0).density, 1)
        XCTAssertEqual(scan.summary(0).maxActivation, 100)
        XCTAssertEqual(scan.summary(1).firing, 0)
        XCTAssertEqual(scan.examples(0).first?.position, 100)
        XCTAssertEqual(scan.examples(1), [])
        XCTAssertEqual(scan.ranked(by: .density, count: 5).map(\.feature), [0])
        let h = scan.histogram(0, bins: 10)
        XCTAssertTrue(h.sampled)
        XCTAssertEqual(h.values, 50)
        XCTAssertEqual(h.counts.reduce(0, +), 50)

        let exact = FeatureScan(width: 2, bos: 2)
        exact.add(activations: acts, tokens: [2] + [Int32](repeating: 5, count: 100))
        let full = exact.histogram(0, bins: 10)
        XCTAssertFalse(full.sampled)
        XCTAssertEqual(full.upper, 100)
        // Bins of width 10: (0,10) holds 1…9, then 10…19, …, and the last holds 90…100.
        XCTAssertEqual(full.counts, [9, 10, 10, 10, 10, 10, 10, 10, 10, 11])
    }
}
