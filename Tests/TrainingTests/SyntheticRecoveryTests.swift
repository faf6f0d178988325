import Models
import CPUBackend
import XCTest
@testable import Training

/// Data made of known sparse directions: a TopK SAE must find them (Gao et al.'s sanity check).
final class SyntheticRecoveryTests: XCTestCase {
    /// `features` random unit directions in `width` dimensions; each row is a sum of `active` of
    /// them with magnitudes in 0.5...1.5.
    static func sparseData(rows: Int, width d: Int, features m: Int, active: Int, seed: UInt64) -> (rows: [Float], features: [Float]) {
        var random = SeededGenerator(seed: seed)
        var features = (0..<(m * d)).map { _ in random.normal() }
        SAEParameters.normalizeRows(&features, width: d)
        var x = [Float](repeating: 0, count: rows * d)
        for i in 0..<rows {
            var chosen = Set<Int>()
            while chosen.count < active { chosen.insert(Int.random(in: 0..<m, using: &random)) }
            for f in chosen.sorted() {  // Set order varies between instances
                let magnitude = Float.random(in: 0.5...1.5, using: &random)
                for j in 0..<d { x[i * d + j] += magnitude * features[f * d + j] }
            }
        }
        return (x, features)
    }

    /// Mean over true features of the best cosine with any decoder row.
    static func meanMaxCosine(features: [Float], decoder: [Float], width d: Int) -> Double {
        let m = features.count / d, s = decoder.count / d
        var total = 0.0
        for f in 0..<m {
            var best: Float = -1
            for r in 0..<s {
                var dot: Float = 0, norm: Float = 0
                for j in 0..<d { dot += features[f * d + j] * decoder[r * d + j]; norm += decoder[r * d + j] * decoder[r * d + j] }
                best = max(best, dot / max(norm.squareRoot(), 1e-12))
            }
            total += Double(best)
        }
        return total / Double(m)
    }

    func testTopKRecoversKnownDirections() throws {
        let d = 32, m = 48
        let data = Self.sparseData(rows: 16384, width: d, features: m, active: 3, seed: 11)
        let settings = SAETrainingSettings(architecture: .topk, width: 96, k: 3, learningRate: 4e-3, batchSize: 256,
                                           tokens: 256 * 1200, deadAfterTokens: 256 * 50, seed: 1, inputWidth: d)
        let trainer = try SAETrainer(settings: settings, source: InMemoryActivations(values: data.rows, width: d),
                                     backend: CPUBackend())
        var last: SAEBatchResult?
        while !trainer.isFinished { last = try trainer.trainStep() }
        let cosine = Self.meanMaxCosine(features: data.features, decoder: trainer.parameters.decoder, width: d)
        XCTAssertGreaterThanOrEqual(cosine, 0.9, "mean max cosine; last batch EV \(last!.explainedVariance)")
        XCTAssertGreaterThan(last!.explainedVariance, 0.8)
        XCTAssertLessThanOrEqual(last!.l0, 3)
    }
}
