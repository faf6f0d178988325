import Foundation
import XCTest

/// `lantern steer sweep` on the tiny Gemma 2 fixture with its Gemma Scope SAE (bytes as ids).
extension CLITests {
    func testSteerSweepHasItsControl() throws {
        let sae = scopeSAE
        let picture = NSTemporaryDirectory() + "sweep-\(UUID().uuidString).svg"
        defer { try? FileManager.default.removeItem(atPath: picture) }
        let sweep = try json(["steer", "sweep", "--model", tinyGemma2, "--byte-tokens", "--sae", sae, "--feature", "5",
                              "--strengths", "0,50", "--prompt", "ab", "--prompt", "the cat", "--random", "2", "--max-new-tokens", "5",
                              "--backend", "cpu", "--json", "--svg", picture])
        let rows = sweep["rows"] as! [[String: Any]]
        XCTAssertEqual(rows.map { $0["strength"] as! Double }, [0, 50])
        XCTAssertEqual((sweep["promoted_tokens"] as! [Int]).count, 10)
        // Strength 0 is the unsteered model: every column equals the baseline.
        let zero = rows[0], baseline = sweep["baseline_log_likelihood"] as! Double
        for key in ["promoted_mass", "promoted_mass_random"] {
            XCTAssertEqual(zero[key] as! Double, zero["promoted_mass_unsteered"] as! Double, accuracy: 1e-9, key)
        }
        for key in ["log_likelihood", "log_likelihood_random"] { XCTAssertEqual(zero[key] as! Double, baseline, accuracy: 1e-9, key) }
        // Steering by the feature moves its promoted tokens' mass up, more than random pushes of its size.
        let strong = rows[1]
        XCTAssertGreaterThan(strong["promoted_mass"] as! Double, strong["promoted_mass_unsteered"] as! Double)
        XCTAssertGreaterThan(strong["promoted_mass"] as! Double, strong["promoted_mass_random"] as! Double)
        XCTAssertEqual((strong["texts"] as! [String]).count, 2)
        // The picture: two charts, each with the feature's curve, the random directions' and the unsteered level.
        let svg = try String(contentsOfFile: picture, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("2 prompts") && svg.contains("random (2 of its norm)"), svg)
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 6, "feature, random and unsteered in both charts")
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 8, "two strengths × (feature, random) × two charts")

        let bad = try run(["steer", "sweep", "--model", tinyGemma2, "--byte-tokens", "--sae", sae, "--feature", "500", "--prompt", "ab",
                           "--backend", "cpu"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--feature 500 is out of range: the SAE has 96 features"), bad.err)
        // The default subcommand still steers one prompt.
        let once = try json(["steer", "--model", tinyGemma2, "--sae", scopeSAE, "--feature", "3", "--strength", "0", "--token-ids", "2,5",
                             "--max-new-tokens", "2", "--json"])
        XCTAssertEqual(once["baseline"] as! [Int], once["steered"] as! [Int])
    }
}
