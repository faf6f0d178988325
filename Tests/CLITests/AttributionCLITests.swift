import Foundation
import XCTest
import TestSupport

/// `attribute`, `attention` and `patch sweep` as a user runs them.
extension CLITests {

    func temporaryHTML(_ stem: String) -> String { NSTemporaryDirectory() + "\(stem)-\(UUID().uuidString).html" }

    func testAttributeJSONTableAndPage() throws {
        let page = temporaryHTML("attribute")
        defer { try? FileManager.default.removeItem(atPath: page) }
        for model in [tinyGemma2, tinyGemma3] {
            let a = try json(["attribute", "--model", model, "--token-ids", "2,10,20,30", "--target", "7", "--baseline", "9", "--json"])
            let components = a["components"] as! [[String: Any]]
            XCTAssertEqual(components.count, 1 + 4 * (4 + 1) + (model == tinyGemma3 ? 3 * 5 : 0))
            let sum = components.map { $0["value"] as! Double }.reduce(0, +)
            XCTAssertEqual(sum, a["component_sum"] as! Double, accuracy: 1e-4)
            XCTAssertEqual(sum + (a["remainder"] as! Double), a["logit_difference"] as! Double, accuracy: 1e-4)
            XCTAssertEqual(sum, a["uncapped_logit_difference"] as! Double, accuracy: 1e-4 * max(1, abs(sum)))
            XCTAssertEqual(a["final_softcap"] != nil, model == tinyGemma2)
        }
        let table = try run(["attribute", "--model", tinyGemma2, "--token-ids", "2,10,20,30", "--target", "7", "--baseline", "9",
                             "--top", "5", "--html", page])
        XCTAssertEqual(table.status, 0, table.err)
        XCTAssertTrue(table.out.contains("(5 of 21 components"), table.out)
        XCTAssertTrue(table.out.contains("remainder: the final softcap"), table.out)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertTrue(html.contains("Direct logit attribution") && html.contains("L3H2") && html.contains("MLP0"))
        XCTAssertFalse(html.contains("http://") || html.contains("https://"), "self-contained")
    }

    func testAttentionPage() throws {
        let page = temporaryHTML("attention")
        defer { try? FileManager.default.removeItem(atPath: page) }
        let r = try run(["attention", "--model", tinyGemma2, "--token-ids", "2,10,20,30", "--layer", "1,3", "--html", page])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.split(separator: "\n").filter { $0.hasPrefix("L") }.count, 2 * 4, r.out)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertTrue(html.contains("\"layers\":[1,3]") && html.contains("attLayer"), "the page carries the chosen layers")
        let j = try json(["attention", "--model", tinyGemma2, "--token-ids", "2,10,20", "--layer", "0", "--json"])
        let pattern = (j["patterns"] as! [[[[Double]]]])[0]
        XCTAssertEqual(pattern.count, 4)
        for head in pattern { for (q, row) in head.enumerated() { XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5); XCTAssertEqual(row[(q + 1)...].reduce(0, +), 0) } }
        let bad = try run(["attention", "--model", tinyGemma2, "--token-ids", "2,10", "--layer", "9"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--layer 9 is out of range"), bad.err)
    }

    func testPatchSweepJSONPageAndErrors() throws {
        let page = temporaryHTML("sweep")
        defer { try? FileManager.default.removeItem(atPath: page) }
        let s = try json(["patch", "sweep", "--model", tinyGemma2, "--token-ids", "2,10,20,30", "--source-token-ids", "2,10,77,30",
                          "--target", "7", "--baseline", "9", "--hooks", "blocks.*.hook_resid_pre", "blocks.*.attn.hook_z", "--json", "--html", page])
        let grids = s["grids"] as! [[String: Any]]
        XCTAssertEqual(grids.map { $0["family"] as! String }, ["blocks.*.hook_resid_pre", "blocks.*.attn.hook_z"])
        XCTAssertEqual((grids[0]["values"] as! [[Double]]).count, 4)
        XCTAssertEqual((grids[1]["values"] as! [[Double]]).count, 16, "4 layers × 4 heads")
        XCTAssertEqual((grids[0]["values"] as! [[Double]])[0][0], 1, accuracy: 1e-5)
        XCTAssertTrue(try String(contentsOfFile: page, encoding: .utf8).contains("blocks.*.attn.hook_z"))
        let table = try run(["patch", "sweep", "--model", tinyGemma2, "--token-ids", "2,10,20,30", "--source-token-ids", "2,10,77,30",
                             "--target", "7", "--baseline", "9"])
        XCTAssertEqual(table.status, 0, table.err)
        XCTAssertTrue(table.out.contains("blocks.*.hook_resid_pre") && table.err.contains("done in"), table.out + table.err)
        // The single-hook form is still `patch` without a subcommand.
        let one = try json(["patch", "--model", tinyGemma2, "--token-ids", "2,10,20", "--hook", "blocks.1.hook_resid_post",
                            "--mode", "patch", "--source-token-ids", "2,10,20", "--target", "9", "--json"])
        XCTAssertEqual(one["logit_change"] as! Double, 0)

        let cases: [([String], String)] = [
            (["--source-token-ids", "2,10,77"], "the clean prompt is 4 tokens and the corrupted (source) prompt is 3"),
            (["--source-token-ids", "2,10,77,30", "--hooks", "blocks.*.hook_nope"], "matches no hook"),
            (["--source-token-ids", "2,10,77,30", "--hooks", "blocks.1.attn.hook_pattern"], "cannot sweep blocks.1.attn.hook_pattern"),
        ]
        for (extra, expected) in cases {
            let r = try run(["patch", "sweep", "--model", tinyGemma2, "--token-ids", "2,10,20,30", "--target", "7", "--baseline", "9", "--backend", "cpu"] + extra)
            XCTAssertNotEqual(r.status, 0, "\(extra)")
            XCTAssertTrue(r.err.contains(expected), "\(extra): '\(r.err)' lacks '\(expected)'")
            XCTAssertEqual(r.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, "one line: \(r.err)")
        }
    }

    /// On the default model when it is cached (skipped with a message otherwise, failed under
    /// LANTERN_REQUIRE_MODELS): the components of " important" − " high" on the seed prompt add up
    /// to the logit difference.
    func testAttributeOnTheDefaultModel() throws {
        _ = try requireModel("gemma3-270m")
        let a = try json(["attribute", "--prompt", "The reliability of Wikipedia is very", "--target", " important", "--baseline", " high",
                          "--backend", "cpu", "--json"])
        let difference = a["logit_difference"] as! Double
        XCTAssertEqual(a["component_sum"] as! Double, difference, accuracy: 1e-4 * abs(difference))
        XCTAssertEqual((a["components"] as! [Any]).count, 1 + 18 * 5)
    }
}
