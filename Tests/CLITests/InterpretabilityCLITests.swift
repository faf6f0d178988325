import Foundation
import XCTest

/// `lens`, `features`, `sae eval`, `steer` and `patch` as a user runs them on the tiny fixtures.
extension CLITests {
    var tinyGemma2: String { Self.fixtures.appendingPathComponent("gemma2_tiny").path }
    var scopeSAE: String { Self.fixtures.appendingPathComponent("sae/gemmascope/layer_1/width_96").path }

    func json(_ arguments: [String]) throws -> [String: Any] {
        let r = try run(arguments)
        XCTAssertEqual(r.status, 0, r.err)
        return try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
    }

    func testLensJSONAndTable() throws {
        let lens = try json(["lens", "--model", tinyGemma2, "--token-ids", "2,5,9,11", "--top-k", "3", "--target", "7", "--json"])
        let layers = lens["layers"] as! [[String: Any]]
        XCTAssertEqual(layers.count, 5)
        let cell = (layers[4]["positions"] as! [[String: Any]])[3]
        XCTAssertEqual((cell["top"] as! [Any]).count, 3)
        XCTAssertNotNil(cell["target_rank"])
        let long = (0..<30).map { String(3 + $0) }.joined(separator: ",")
        let table = try run(["lens", "--model", tinyGemma2, "--token-ids", long])
        XCTAssertEqual(table.status, 0, table.err)
        XCTAssertTrue(table.out.contains("(last 7 of 30 positions"), table.out)
        XCTAssertLessThanOrEqual(table.out.components(separatedBy: "\n").map { $0.count }.max() ?? 0, 80)
    }

    func testFeaturesEvalSteerPatch() throws {
        let features = try json(["features", "--model", tinyGemma2, "--sae", scopeSAE, "--token-ids", "2,5,9", "--top", "2", "--json"])
        XCTAssertEqual((features["tokens"] as! [[String: Any]]).count, 3)
        let eval = try json(["sae", "eval", "--model", tinyGemma2, "--sae", scopeSAE, "--token-ids", "2,5,9,11", "--json"])
        let overall = eval["overall"] as! [String: Any]
        XCTAssertEqual(overall["tokens"] as! Int, 3, "BOS left out")
        XCTAssertNotNil(overall["ce_loss_score"])
        let (clean, spliced) = (overall["ce_clean"] as! Double, overall["ce_sae"] as! Double)
        XCTAssertEqual(overall["ce_loss_increase"] as! Double, spliced - clean, accuracy: 1e-12)
        XCTAssertEqual(overall["ce_loss_increase_percent"] as! Double, 100 * (spliced - clean) / clean, accuracy: 1e-9)
        let steer = try json(["steer", "--model", tinyGemma2, "--sae", scopeSAE, "--feature", "3,4", "--strength", "0",
                              "--token-ids", "2,173,54", "--max-new-tokens", "6", "--temperature", "0.9", "--seed", "5", "--json"])
        XCTAssertEqual(steer["baseline"] as! [Int], steer["steered"] as! [Int])
        let late = try json(["steer", "--model", tinyGemma2, "--sae", scopeSAE, "--feature", "3", "--strength", "80", "--positions", "4",
                             "--token-ids", "2,173,54", "--max-new-tokens", "6", "--json"])
        let (baseline, steered) = (late["baseline"] as! [Int], late["steered"] as! [Int])
        XCTAssertEqual(baseline.prefix(2), steered.prefix(2), "position 4 is the second generated token's: the first two are unsteered")
        let far = try run(["steer", "--model", tinyGemma2, "--sae", scopeSAE, "--feature", "3", "--strength", "1", "--positions", "99999999",
                           "--token-ids", "2,173,54"])
        XCTAssertNotEqual(far.status, 0)
        XCTAssertTrue(far.err.contains("--positions: position 99999999 is outside the model's context"), far.err)
        let patch = try json(["patch", "--model", tinyGemma2, "--token-ids", "2,10,20", "--hook", "blocks.1.hook_resid_post",
                              "--mode", "patch", "--source-token-ids", "2,10,20", "--target", "9", "--json"])
        XCTAssertEqual(patch["logit_change"] as! Double, 0)
    }

    func testBadSAEFailsWithOneLine() throws {
        let malformed = Self.fixtures.appendingPathComponent("sae/malformed").path
        let cases: [([String], String)] = [
            (["features", "--model", tinyGemma2, "--sae", malformed + "/d_in_32/layer_1", "--token-ids", "2,5"], "is 64 wide"),
            (["features", "--model", tinyGemma2, "--sae", malformed + "/truncated/layer_1", "--token-ids", "2,5"], "truncated"),
            (["sae", "eval", "--model", tinyGemma2, "--sae", scopeSAE, "--hook", "blocks.8.hook_resid_post", "--token-ids", "2,5"], "--hook 'blocks.8.hook_resid_post' is not a hook of this model (4 layers)"),
            (["steer", "--model", tinyGemma2, "--sae", scopeSAE, "--feature", "96", "--strength", "1", "--token-ids", "2"], "feature 96 is out of range"),
        ]
        for (arguments, expected) in cases {
            let r = try run(arguments + ["--backend", "cpu"])
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.err.contains(expected), "\(arguments): '\(r.err)' lacks '\(expected)'")
            XCTAssertEqual(r.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, "one line: \(r.err)")
        }
    }
}
