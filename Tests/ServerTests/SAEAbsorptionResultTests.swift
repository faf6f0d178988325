import Foundation
import XCTest
@testable import Analyses

/// SAEBench's aggregation of the absorption figures, worked by hand: means and sample standard
/// deviations over the letters with probe true positives, and the weights of SAEBench's pos_weight.
final class SAEAbsorptionResultTests: XCTestCase {
    func testMeansLeaveOutLettersWithoutTruePositives() throws {
        typealias Letter = SAEAbsorptionResult.Letter
        var a = Letter(letter: "a", probeF1: 0.9, kSparseF1: [0.5], splitLatents: [1])
        a.probeTruePositives = 4
        a.meanAbsorptionFraction = 0.25
        a.fullAbsorptionRate = 0.5
        a.withDecoderNorms = .init(meanAbsorptionFraction: 0.5, fullAbsorptionRate: 1)
        var b = Letter(letter: "b", probeF1: 0.8, kSparseF1: [0.4, 0.6], splitLatents: [2, 3, 4])
        b.probeTruePositives = 2
        b.meanAbsorptionFraction = 0.75
        b.fullAbsorptionRate = 0
        b.withDecoderNorms = .init(meanAbsorptionFraction: 1, fullAbsorptionRate: 0)
        let c = Letter(letter: "c", probeF1: 0, kSparseF1: [0], splitLatents: Array(0..<9))  // no true positives: left out
        let result = SAEAbsorptionResult(sae: "s", hook: "h", vocabulary: 3, trainWords: 2, testWords: 1,
                                         probe: .init(accuracy: 1, meanF1: 1, lettersAboveMinF1: 2), letters: [a, b, c])
        let m = result.mean
        XCTAssertEqual(m.meanAbsorptionFractionScore, 0.5)
        XCTAssertEqual(m.meanFullAbsorptionScore, 0.25)
        XCTAssertEqual(m.meanNumSplitFeatures, 2)
        XCTAssertEqual(m.stdDevAbsorptionFractionScore!, 0.5.squareRoot() / 2, accuracy: 1e-15, "√((0.25² + 0.25²) / 1)")
        XCTAssertEqual(m.stdDevFullAbsorptionScore!, 0.125.squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(m.stdDevNumSplitFeatures!, 2.0.squareRoot(), accuracy: 1e-15)
        let v = result.meanWithDecoderNorms
        XCTAssertEqual(v.meanAbsorptionFractionScore, 0.75)
        XCTAssertEqual(v.meanFullAbsorptionScore, 0.5)
        let json = try JSONSerialization.jsonObject(with: try AnalysisJSON.encode(result)) as! [String: Any]
        let details = json["eval_result_details"] as! [[String: Any]]
        XCTAssertEqual(details[1]["num_split_features"] as? Int, 3)
        XCTAssertTrue(details[2]["mean_absorption_fraction"] is NSNull)
        XCTAssertEqual((json["mean"] as! [String: Any])["mean_absorption_fraction_score"] as? Double, 0.5)

        let one = SAEAbsorptionResult(sae: "s", hook: "h", vocabulary: 3, trainWords: 2, testWords: 1,
                                      probe: .init(accuracy: 1, meanF1: 1, lettersAboveMinF1: 2), letters: [a, c])
        XCTAssertNil(one.mean.stdDevAbsorptionFractionScore, "one letter has no sample deviation")
        XCTAssertEqual(SAEAbsorptionRequest.positiveWeights([true, false, false, false]), [3, 1, 1, 1])
    }
}
