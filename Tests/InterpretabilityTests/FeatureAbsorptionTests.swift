import Foundation
import Models
import XCTest
@testable import Interpretability

/// The absorption measure's pieces: its probes against scikit-learn's (goldens from
/// tools/make_absorption_goldens.py), and the vocabulary filter, prompts, F1, feature splitting
/// and each word's absorption on cases worked by hand.
final class FeatureAbsorptionTests: XCTestCase {
    struct Balanced: Decodable { let n: Int, d: Int, x: [Float], y: [Bool], coef: [Double], intercept: Double }
    struct Sparse: Decodable {
        let n: Int, d: Int, l1: Double, l2: Double, x: [Float], y: [Bool], weights: [Double], coef: [Double], intercept: Double
    }
    struct File: Decodable { let balanced: [Balanced], sparse: [Sparse] }

    func goldens() throws -> File {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/probing/absorption_probes.json")
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
    }

    func testBalancedLogisticRegressionEqualsScikitLearn() throws {
        let cases = try goldens().balanced
        XCTAssertEqual(cases.count, 2)
        for (i, g) in cases.enumerated() {
            let fit = try LogisticRegression(x: g.x, labels: g.y, width: g.d, sampleWeights: LogisticRegression.balancedWeights(g.y))
            for j in 0..<g.d { XCTAssertEqual(fit.weights[j], g.coef[j], accuracy: 1e-6 * max(1, abs(g.coef[j])), "case \(i) w[\(j)]") }
            XCTAssertEqual(fit.bias, g.intercept, accuracy: 1e-6 * max(1, abs(g.intercept)), "case \(i) bias")
            // Unweighted, the fit differs: the weights matter.
            let plain = try LogisticRegression(x: g.x, labels: g.y, width: g.d)
            XCTAssertGreaterThan(abs(plain.bias - g.intercept), 1e-3, "case \(i)")
        }
        XCTAssertEqual(LogisticRegression.balancedWeights([true, false, false, false]), [2, 2 / 3, 2 / 3, 2 / 3])
    }

    func testSparseLogisticRegressionEqualsScikitLearnElasticNet() throws {
        let cases = try goldens().sparse
        XCTAssertEqual(cases.count, 2)
        for (i, g) in cases.enumerated() {
            let fit = try SparseLogisticRegression(x: g.x, labels: g.y, width: g.d, l1: g.l1, l2: g.l2, sampleWeights: g.weights)
            for j in 0..<g.d {
                XCTAssertEqual(fit.weights[j], g.coef[j], accuracy: 1e-5, "case \(i) w[\(j)]")
                XCTAssertEqual(fit.weights[j] == 0, abs(g.coef[j]) < 1e-8, "case \(i) w[\(j)] is zero exactly when scikit-learn's is")
            }
            XCTAssertEqual(fit.bias, g.intercept, accuracy: 1e-5, "case \(i) bias")
            // The ranking: positive weights first, largest first.
            let positive = (0..<g.d).filter { g.coef[$0] > 1e-8 }.sorted { g.coef[$0] > g.coef[$1] }
            XCTAssertEqual(Array(fit.ranking().prefix(positive.count)), positive, "case \(i)")
        }
    }

    func testRankingOrdersZeroWeightsByThePullOfTheLoss() {
        var fit = try! SparseLogisticRegression(x: [1, 0, 0, 1], labels: [true, false], width: 2, l1: 10)
        XCTAssertEqual(fit.weights, [0, 0], "a large L1 penalty leaves every weight at zero")
        fit.weights = [0, 0.5, 0, -1, 0]
        fit.gradient = [0.1, 0, -0.3, 0, -0.2]
        XCTAssertEqual(fit.ranking(), [1, 2, 4, 0, 3])
    }

    func testVocabularyFilterAndFirstLetters() {
        for word in ["cat", " cat", "Cat", " A", "zZ"] { XCTAssertTrue(FeatureAbsorption.isAlphabeticWord(word), word) }
        for word in ["", " ", "  cat", "ca t", "cat ", "café", "c4t", "\ncat", "▁cat"] { XCTAssertFalse(FeatureAbsorption.isAlphabeticWord(word), word) }
        XCTAssertEqual(FeatureAbsorption.letterIndex(" Zebra"), 25)
        XCTAssertEqual(FeatureAbsorption.letterIndex("apple"), 0)
        XCTAssertEqual(FeatureAbsorption.letterIndex("  1b"), 1)
        XCTAssertNil(FeatureAbsorption.letterIndex("12"))
    }

    func testPromptsFollowSAEBenchsTemplate() {
        XCTAssertEqual(FeatureAbsorption.prompt(word: "dog", examples: ["cat", " Bee"]),
                       "cat has the first letter: C\n Bee has the first letter: B\ndog has the first letter:")
        XCTAssertEqual(FeatureAbsorption.prompt(word: " owl", examples: ["ant"], separatorFirst: true),
                       "\nant has the first letter: A\n owl has the first letter:")
        var random = SeededGenerator(seed: 3)
        let pool = ["a", "b", "c", "d", "e", "f"]
        for _ in 0..<20 {
            let drawn = FeatureAbsorption.examples(for: "c", from: pool, count: 4, random: &random)
            XCTAssertEqual(drawn.count, 4)
            XCTAssertEqual(Set(drawn).count, 4)
            XCTAssertFalse(drawn.contains("c"))
        }
        XCTAssertEqual(Set(FeatureAbsorption.examples(for: "c", from: pool, count: 10, random: &random)), ["a", "b", "d", "e", "f"])
    }

    func testF1AndFeatureSplitting() {
        // tp 2 (rows 0, 3), fp 1 (row 2), fn 1 (row 1): 2·2 / (2·2 + 1 + 1).
        XCTAssertEqual(FeatureAbsorption.f1(scores: [1, -1, 1, 1], labels: [true, true, false, true]), 4.0 / 6.0)
        XCTAssertEqual(FeatureAbsorption.f1(scores: [0, -1], labels: [true, false]), 0, "a score of 0 is not a positive prediction")
        XCTAssertEqual(FeatureAbsorption.f1(scores: [-1], labels: [false]), 0)
        XCTAssertEqual(FeatureAbsorption.splitCount(f1ByK: [0.5, 0.6, 0.62, 0.9]), 2, "0.62 gains only 0.02 on 0.6: the run stops")
        XCTAssertEqual(FeatureAbsorption.splitCount(f1ByK: [0.5, 0.52, 0.9]), 1)
        XCTAssertEqual(FeatureAbsorption.splitCount(f1ByK: [0, 0.1, 0.2, 0.3]), 4)
        XCTAssertEqual(FeatureAbsorption.splitCount(f1ByK: [0, 0.1, 0.2], threshold: 0.1), 1, "0.1 does not beat 0 by more than 0.1")
    }

    func testDecoderCosines() {
        let c = FeatureAbsorption.cosines(decoder: [1, 0, 1, 1, 0, -2, 0, 0], latents: 4, width: 2, direction: [2, 0])
        XCTAssertEqual(c[0], 1, accuracy: 1e-12)
        XCTAssertEqual(c[1], 1 / 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(c[2], 0, accuracy: 1e-12)
        XCTAssertEqual(c[3], 0, "a zero decoder row")
    }

    /// Five latents against the probe direction (1, 0); the activation (10, 3) projects to 10.
    /// Latent 0 is the letter's main latent.
    func testAbsorptionOfOneWordWorkedByHand() {
        let cosines = [0.9, 0.5, 0.2, 0.05, -0.3], unit = [1.0, 0.0], x: [Float] = [10, 3]
        func word(_ latents: [Float], main: [Int] = [0], activation: [Float] = x, cos: [Double] = cosines) -> FeatureAbsorption.WordResult {
            FeatureAbsorption.word(activation: activation, latents: latents, unitProbe: unit, cosines: cos, main: main)
        }
        // Main silent; projections (0, 5, 0.8, 1.5, −0.6): absorbers 1 and 2 (cosine ≥ 0.1) carry 5.8 ≥ 0.4·10.
        var r = word([0, 10, 4, 30, 2])
        XCTAssertEqual(r.probeProjection, 10)
        XCTAssertEqual(r.absorptionFraction, 1, "main projection 0: fully absorbed")
        XCTAssertTrue(r.isFullAbsorption, "latent 1 (cosine 0.5) carries 5 of 10")
        XCTAssertEqual(r.topLatent, 1)
        XCTAssertEqual(r.topProjection, 5)
        // Main fires (projection 1.8): A = min(5.8, 10 − 1.8) = 5.8, fraction 5.8 / 7.6; not full.
        r = word([2, 10, 4, 30, 2])
        XCTAssertEqual(r.absorptionFraction, 5.8 / 7.6, accuracy: 1e-12)
        XCTAssertFalse(r.isFullAbsorption)
        // A capped by what the main latent leaves: main 8.1, absorbers 5.8 → A = 1.9, fraction 1.9 / 10.
        r = word([9, 10, 4, 30, 2])
        XCTAssertEqual(r.absorptionFraction, 1.9 / 10, accuracy: 1e-12)
        // Absorbers too weak: (1 + 0.8) / 10 < 0.4 → 0; the top latent (3, projection 1.5) is too weak for full absorption.
        r = word([0, 2, 4, 30, 2])
        XCTAssertEqual(r.absorptionFraction, 0)
        XCTAssertFalse(r.isFullAbsorption)
        XCTAssertEqual(r.topLatent, 3)
        // The main latent alone explains the projection: 0.
        r = word([20, 10, 4, 30, 2])
        XCTAssertEqual(r.absorptionFraction, 0)
        // At most three absorbers: projections 2, 1.5, 1 (0.5 left out) → A = 4.5, main 0.5: 4.5 / 5.
        r = word([1, 4, 3, 2, 1], cos: [0.5, 0.5, 0.5, 0.5, 0.5])
        XCTAssertEqual(r.absorptionFraction, 0.9, accuracy: 1e-12)
        // A negative probe projection is never absorption.
        r = word([0, 10, 4, 30, 2], activation: [-10, 3])
        XCTAssertEqual(r.absorptionFraction, 0)
        XCTAssertFalse(r.isFullAbsorption)
        // Full absorption asks only the top latent's cosine to reach 0.025: latent 3 (0.05) with projection 30·0.05 = 1.5 of 2.
        r = word([0, 0, 0, 30, 0], activation: [2, 0])
        XCTAssertTrue(r.isFullAbsorption)
        XCTAssertEqual(r.absorptionFraction, 0, "but its cosine is under 0.1: it cannot absorb for the fraction")
    }
}
