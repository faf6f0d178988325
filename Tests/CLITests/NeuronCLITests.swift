import Foundation
import XCTest

/// `neuron` and `neurons top` on the tiny fixtures, reading a text corpus as bytes.
extension CLITests {
    func neuronArguments(_ corpus: String) -> [String] {
        ["--model", tinyGemma2, "--layer", "2", "--corpus", corpus, "--byte-tokens", "--context", "32", "--tokens", "128", "--backend", "cpu"]
    }

    func testNeuronDashboardWithPolysemanticity() throws {
        let corpus = try dashboardCorpus()
        let page = NSTemporaryDirectory() + "neuron-\(UUID().uuidString).html"
        defer { try? FileManager.default.removeItem(atPath: corpus); try? FileManager.default.removeItem(atPath: page) }
        let common = neuronArguments(corpus)
        let data = try json(["neuron", "--id", "5", "--examples", "4", "--sae", scopeSAE, "--max-density", "0.5", "--json", "--html", page] + common)
        XCTAssertEqual(data["hook"] as? String, "blocks.2.mlp.hook_post")
        let d = data["dashboard"] as! [String: Any]
        XCTAssertEqual(d["neuron"] as? Int, 5)
        XCTAssertEqual(d["tokens"] as? Int, 4 * 31, "four contexts, BOS left out")
        let examples = (d["examples"] as! [Any]).count
        XCTAssertGreaterThan(examples, 0)
        XCTAssertLessThanOrEqual(examples, 4)
        XCTAssertTrue(((d["logits"] as! [String: Any])["direction"] as! String).contains("post-feedforward norm"))
        XCTAssertGreaterThan(data["frozen_norm_scale"] as! Double, 0)
        let poly = data["polysemanticity"] as! [String: Any]
        let groups = poly["groups"] as! [[String: Any]]
        XCTAssertEqual(groups.reduce(0) { $0 + ($1["examples"] as! [Int]).count }, examples, "every top context in one group")
        XCTAssertEqual(groups.reduce(0.0) { $0 + ($1["share"] as! Double) }, 1, accuracy: 1e-9)
        XCTAssertGreaterThanOrEqual(poly["effective_features"] as! Double, 1)
        // Related features counted as one: between 1 and the effective number.
        let unrelated = poly["unrelated_features"] as! Double
        XCTAssertGreaterThanOrEqual(unrelated, 1)
        XCTAssertLessThanOrEqual(unrelated, (poly["effective_features"] as! Double) * (1 + 1e-12))
        if (poly["distinct_features"] as! Int) > 1 {
            XCTAssertTrue((0...1).contains(poly["mean_abs_cosine"] as! Double) && (0...1).contains(poly["mean_promoted_jaccard"] as! Double), "\(poly)")
        }
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertTrue(html.contains("Polysemanticity") && html.contains("Logit effects") && html.contains("Top activating contexts"))
        XCTAssertTrue(html.contains("post-feedforward norm"), "the page says which frozen scale it used")

        let text = try run(["neuron", "--id", "5", "--sae", scopeSAE] + common)
        XCTAssertEqual(text.status, 0, text.err)
        XCTAssertTrue(text.out.contains("neuron 5:") && text.out.contains("«") && text.out.contains("polysemanticity:")
                      && text.out.contains("unrelatedness:"), text.out)
        let bad = try run(["neuron", "--id", "128"] + common)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("neuron 128 is out of range"), bad.err)
        XCTAssertEqual(bad.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, bad.err)
        let badLayer = try run(["neuron", "--id", "1", "--model", tinyGemma2, "--layer", "9", "--corpus", corpus, "--byte-tokens", "--backend", "cpu"])
        XCTAssertTrue(badLayer.err.contains("--layer 9 is out of range"), badLayer.err)
    }

    func testNeuronsTopByPolysemanticityWritesIndexAndPages() throws {
        let corpus = try dashboardCorpus()
        let dir = NSTemporaryDirectory() + "neurons-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: corpus); try? FileManager.default.removeItem(atPath: dir) }
        let common = neuronArguments(corpus)
        let r = try run(["neurons", "top", "--sae", scopeSAE, "--max-density", "0.5", "--sort", "polysemantic", "--count", "4", "--html-dir", dir] + common)
        XCTAssertEqual(r.status, 0, r.err)
        let rows = r.out.split(separator: "\n").dropFirst(2).map { $0.split(separator: " ") }
        let listed = rows.compactMap { Int($0.first ?? "") }
        XCTAssertEqual(listed.count, 4, r.out)
        let scores = rows.map { Double($0[4])! }
        XCTAssertEqual(scores, scores.sorted(by: >), "most polysemantic (unrelated features) first: \(r.out)")
        XCTAssertTrue(zip(scores, rows.map { Double($0[5])! }).allSatisfy { $0 <= $1 + 0.005 }, "unrelated ≤ effective (to the printed places): \(r.out)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(files, (["index.html"] + listed.map { "neuron-\($0).html" }).sorted())
        let index = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        XCTAssertTrue(index.contains("effective SAE features") && index.contains("unrelated SAE features"))
        for n in listed { XCTAssertTrue(index.contains("href=\"neuron-\(n).html\""), "index links neuron \(n)") }
        for file in files {
            let html = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("src="), "\(file) is self-contained")
        }
        // The JSON agrees with the table, and the ranking by max matches the dashboards' maxima.
        let data = try json(["neurons", "top", "--by", "max", "--count", "3", "--json"] + common)
        let maxima = (data["neurons"] as! [[String: Any]]).map { $0["max_activation"] as! Double }
        XCTAssertEqual(maxima.count, 3)
        XCTAssertEqual(maxima, maxima.sorted(by: >))
        let noSAE = try run(["neurons", "top", "--by", "polysemantic"] + common)
        XCTAssertNotEqual(noSAE.status, 0)
        XCTAssertTrue(noSAE.err.contains("needs --sae"), noSAE.err)
    }
}
