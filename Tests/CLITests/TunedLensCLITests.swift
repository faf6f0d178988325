import Foundation
import XCTest

/// `lens train`, `lens eval` and `lens --tuned` end to end on the tiny Gemma 2 fixture (bytes as ids).
extension CLITests {
    func testTunedLensTrainEvalShow() throws {
        let dir = NSTemporaryDirectory() + "cli-tuned-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let words = ["a", "small", "corpus", "for", "the", "lens", "with", "words", "that", "repeat", "often", "enough"]
        func text(_ offset: Int) -> String {
            (0..<300).map { i in (0..<8).map { words[(i * 7 + $0 * (3 + offset) + offset) % words.count] }.joined(separator: " ") + ".\n\n" }.joined()
        }
        try text(0).write(toFile: dir + "/train.txt", atomically: true, encoding: .utf8)
        try text(1).write(toFile: dir + "/heldout.txt", atomically: true, encoding: .utf8)
        let model = tinyGemma2

        let train = try run(["lens", "train", "--model", model, "--byte-tokens", "--corpus", dir + "/train.txt", "--tokens", "4000",
                             "--context", "32", "--batch", "4", "--out", dir + "/lens", "--backend", "cpu"])
        XCTAssertEqual(train.status, 0, train.err)
        XCTAssertTrue(train.err.contains("trained 4 translators"), train.err)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/lens/config.json"))) as! [String: Any]
        XCTAssertEqual(config["lens_type"] as? String, "linear_tuned_lens")
        XCTAssertEqual(config["num_hidden_layers"] as? Int, 4)
        XCTAssertEqual(config["d_model"] as? Int, 64)

        // The same run again is refused (its checkpoint is there) unless resumed; resumed, it is done.
        let again = try run(["lens", "train", "--model", model, "--byte-tokens", "--corpus", dir + "/train.txt", "--tokens", "4000",
                             "--context", "32", "--batch", "4", "--out", dir + "/lens", "--backend", "cpu"])
        XCTAssertEqual(again.status, 2, again.err)
        XCTAssertTrue(again.err.contains("checkpoint.safetensors exists: pass --resume"), again.err)
        let resumed = try run(["lens", "train", "--model", model, "--byte-tokens", "--corpus", dir + "/train.txt", "--tokens", "4000",
                               "--context", "32", "--batch", "4", "--out", dir + "/lens", "--backend", "cpu", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.err.contains("resuming at step 33 of 33"), resumed.err)

        // A least-squares start alone (--tokens 0), then a few KL steps from it.
        let fit = try run(["lens", "train", "--model", model, "--byte-tokens", "--corpus", dir + "/train.txt", "--tokens", "0",
                           "--init", "least-squares", "--init-tokens", "1500", "--context", "32", "--out", dir + "/fit", "--backend", "cpu"])
        XCTAssertEqual(fit.status, 0, fit.err)
        XCTAssertTrue(fit.err.contains("least-squares start fitted on 1500 tokens"), fit.err)
        let fromFit = try run(["lens", "train", "--model", model, "--byte-tokens", "--corpus", dir + "/train.txt", "--tokens", "248",
                               "--init", dir + "/fit", "--context", "32", "--lr", "1e-3", "--out", dir + "/fit-kl", "--backend", "cpu"])
        XCTAssertEqual(fromFit.status, 0, fromFit.err)
        let bad = try run(["lens", "train", "--model", model, "--byte-tokens", "--tokens", "0", "--out", dir + "/x", "--backend", "cpu"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.err.contains("--tokens 0 trains nothing"), bad.err)

        let eval = try json(["lens", "eval", "--model", model, "--byte-tokens", "--corpus", dir + "/heldout.txt", "--tuned", dir + "/lens",
                             "--tokens", "600", "--context", "32", "--json", "--backend", "cpu"])
        let rows = eval["rows"] as! [[String: Any]]
        XCTAssertEqual(rows.count, 5)
        XCTAssertEqual(eval["tokens"] as? Int, 600, "--tokens 600 evaluates 600 positions (19 contexts of 31, the last cut to 11)")
        XCTAssertEqual(eval["contexts"] as? Int, 20)
        for row in rows.prefix(4) {
            XCTAssertLessThan(row["tuned_kl"] as! Double, row["logit_kl"] as! Double, "\(row)")
        }

        let show = try json(["lens", "--model", model, "--token-ids", "2,5,9,11", "--top-k", "2", "--tuned", dir + "/lens", "--json", "--backend", "cpu"])
        let tuned = show["tuned"] as! [String: Any]
        XCTAssertEqual((tuned["layers"] as! [Any]).count, 5)
        let answer = show["answer"] as! [String: Any]
        XCTAssertEqual((answer["ranks"] as! [Int]).last, 1)
        XCTAssertEqual(answer["given"] as? Bool, false)
        XCTAssertNotNil((tuned["answer"] as! [String: Any])["first_top_layer"])

        let long = (0..<30).map { String(3 + $0) }.joined(separator: ",")
        let table = try run(["lens", "--model", model, "--token-ids", long, "--tuned", dir + "/lens", "--html", dir + "/lens.html", "--backend", "cpu"])
        XCTAssertEqual(table.status, 0, table.err)
        XCTAssertTrue(table.out.contains("logit    tuned"), table.out)
        XCTAssertTrue(table.out.contains("tuned lens: top-1 from"), table.out)
        XCTAssertLessThanOrEqual(table.out.components(separatedBy: "\n").map { $0.count }.max() ?? 0, 80)
        let page = try String(contentsOfFile: dir + "/lens.html", encoding: .utf8)
        XCTAssertTrue(page.contains("<h2>Tuned lens</h2>") && page.contains("<h2>Logit lens</h2>"))

        let wrong = try run(["lens", "--model", Self.fixtures.appendingPathComponent("gemma3_tiny").path, "--token-ids", "2,5",
                             "--tuned", dir + "/lens", "--backend", "cpu"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.err.contains("num_hidden_layers"), wrong.err)
        XCTAssertEqual(wrong.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, wrong.err)
    }
}
