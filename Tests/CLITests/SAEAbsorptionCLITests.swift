import Foundation
import XCTest

/// `sae absorption` refuses what it cannot run in one line. (Its measure needs a tokenizer, which
/// the tiny fixtures lack; FeatureAbsorptionTests checks the measure itself.)
extension CLITests {
    func testSAEAbsorptionRefusesInOneLine() throws {
        let noTokenizer = try run(["sae", "absorption", "--model", tinyGemma2, "--sae", Self.topKSAE, "--backend", "cpu"])
        XCTAssertEqual(noTokenizer.status, 2)
        XCTAssertEqual(noTokenizer.err.trimmingCharacters(in: .whitespacesAndNewlines),
                       "Error: the model has no tokenizer: the first-letter task needs one (its prompts are text)")
        let few = try run(["sae", "absorption", "--model", tinyGemma2, "--sae", Self.topKSAE, "--words", "5"])
        XCTAssertEqual(few.status, 2)
        XCTAssertTrue(few.err.contains("--words must be between 40 and 10000000, not 5"), few.err)
        let threshold = try run(["sae", "absorption", "--model", tinyGemma2, "--sae", Self.topKSAE, "--f1-jump-threshold", "nan"])
        XCTAssertEqual(threshold.status, 2)
        XCTAssertTrue(threshold.err.contains("--f1-jump-threshold must be a finite number ≥ 0 and ≤ 1"), threshold.err)
    }
}
