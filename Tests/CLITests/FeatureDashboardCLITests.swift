import Foundation
import XCTest

/// `feature` and `features top` on the tiny fixtures, reading a text corpus as bytes.
extension CLITests {
    func dashboardCorpus() throws -> String {
        let path = NSTemporaryDirectory() + "corpus-\(UUID().uuidString).txt"
        let text = (0..<12).map { "Line \($0): to be, or not to be, that is the question.\n" }.joined()
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testFeatureDashboardJSONAndTerminal() throws {
        let corpus = try dashboardCorpus()
        defer { try? FileManager.default.removeItem(atPath: corpus) }
        let common = ["--model", tinyGemma2, "--sae", scopeSAE, "--corpus", corpus, "--byte-tokens", "--context", "32", "--tokens", "128", "--backend", "cpu"]
        let page = NSTemporaryDirectory() + "feature-\(UUID().uuidString).html"
        defer { try? FileManager.default.removeItem(atPath: page) }
        let data = try json(["feature", "--id", "5", "--examples", "3", "--json", "--html", page] + common)
        let d = data["dashboard"] as! [String: Any]
        XCTAssertEqual(d["tokens"] as! Int, 4 * 31, "four contexts, BOS left out")
        XCTAssertEqual((d["examples"] as! [Any]).count, 3)
        XCTAssertEqual(((d["logits"] as! [String: Any])["positive"] as! [Any]).count, 10)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertTrue(html.contains("Top activating contexts") && html.contains("Logit effects"))
        let text = try run(["feature", "--id", "5"] + common)
        XCTAssertEqual(text.status, 0, text.err)
        XCTAssertTrue(text.out.contains("«") && text.out.contains("density") && text.out.contains("█"), text.out)
        let bad = try run(["feature", "--id", "96"] + common)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("feature 96 is out of range"), bad.err)
    }

    func testFeaturesTopWritesIndexAndPages() throws {
        let corpus = try dashboardCorpus()
        let dir = NSTemporaryDirectory() + "features-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: corpus); try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["features", "top", "--model", tinyGemma2, "--sae", scopeSAE, "--corpus", corpus, "--byte-tokens",
                         "--context", "32", "--tokens", "128", "--by", "max", "--count", "4", "--html-dir", dir, "--backend", "cpu"])
        XCTAssertEqual(r.status, 0, r.err)
        let listed = r.out.split(separator: "\n").dropFirst(2).compactMap { Int($0.split(separator: " ").first ?? "") }
        XCTAssertEqual(listed.count, 4, r.out)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(files, (["index.html"] + listed.map { "feature-\($0).html" }).sorted())
        let index = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        for f in listed { XCTAssertTrue(index.contains("href=\"feature-\(f).html\""), "index links feature \(f)") }
        for file in files {
            let html = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("src="), "\(file) is self-contained")
        }
        // The per-token view is still `features` with no subcommand.
        let perToken = try json(["features", "--model", tinyGemma2, "--sae", scopeSAE, "--token-ids", "2,5,9", "--top", "2", "--json"])
        XCTAssertEqual((perToken["tokens"] as! [Any]).count, 3)
    }

    func testFeaturesTopMaxDensityLeavesOutDenseFeatures() throws {
        let corpus = try dashboardCorpus()
        defer { try? FileManager.default.removeItem(atPath: corpus) }
        let common = ["features", "top", "--model", tinyGemma2, "--sae", scopeSAE, "--corpus", corpus, "--byte-tokens",
                      "--context", "32", "--tokens", "128", "--by", "density", "--count", "96", "--json", "--backend", "cpu"]
        func densities(_ extra: [String]) throws -> [Double] {
            (try json(common + extra)["features"] as! [[String: Any]]).map { $0["density"] as! Double }
        }
        let all = try densities([])
        let cap = 0.2
        XCTAssertTrue(all.contains { $0 > cap }, "the fixture SAE has features denser than \(cap): \(all.prefix(5))")
        let kept = try densities(["--max-density", "\(cap)"])
        XCTAssertEqual(kept, all.filter { $0 <= cap }, "exactly the features at or below the cap, in the same order")
        let bad = try run(common + ["--max-density", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--max-density"), bad.err)
    }

    func testPerTokenFeaturesLabelledAndWithoutDenseOnes() throws {
        let corpus = try dashboardCorpus()
        defer { try? FileManager.default.removeItem(atPath: corpus) }
        let common = ["features", "--model", tinyGemma2, "--sae", scopeSAE, "--corpus", corpus, "--byte-tokens", "--token-ids", "2,100,101,102",
                      "--top", "3", "--label-tokens", "256", "--json", "--backend", "cpu"]
        let labelled = try json(common)
        let first = (labelled["tokens"] as! [[String: Any]]).flatMap { $0["features"] as! [[String: Any]] }
        XCTAssertFalse(first.isEmpty)
        for f in first { XCTAssertNotNil(f["density"] as? Double); XCTAssertNotNil(f["label"] as? String) }
        let capped = try json(common + ["--max-density", "0.2"])
        let left = Set(capped["dense_left_out"] as! [Int])
        XCTAssertFalse(left.isEmpty, "the fixture SAE has features denser than 0.2")
        for t in capped["tokens"] as! [[String: Any]] {
            for f in t["features"] as! [[String: Any]] {
                XCTAssertFalse(left.contains(f["feature"] as! Int))
                XCTAssertLessThanOrEqual(f["density"] as! Double, 0.2)
            }
        }
    }
}
