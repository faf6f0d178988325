import Foundation
import XCTest

/// `lantern graph` end to end on the tiny Gemma 3 fixture with transcoders it trains for all 7 layers.
extension CLITests {
    func testGraphWritesNeuronpediaJSON() throws {
        let dir = NSTemporaryDirectory() + "cli-graph-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = (0..<40).map { "Sentence \($0) of a small corpus for the graph test.\n\n" }.joined()
        try text.write(toFile: dir + "/corpus.txt", atomically: true, encoding: .utf8)
        let model = Self.fixtures.appendingPathComponent("gemma3_tiny").path
        let harvest = try run(["transcoder", "harvest", "--model", model, "--byte-tokens", "--corpus", dir + "/corpus.txt",
                               "--tokens", "310", "--context", "32", "--out", dir + "/acts"])
        XCTAssertEqual(harvest.status, 0, harvest.err)
        let train = try run(["transcoder", "train", "--model", model, "--activations", dir + "/acts", "--width", "32", "--k", "4",
                             "--skip", "--tokens", "2000", "--batch", "100", "--lr", "1e-2", "--out", dir + "/tc"])
        XCTAssertEqual(train.status, 0, train.err)

        let graph = try run(["graph", "--model", model, "--backend", "cpu", "--token-ids", "2,165,234,93,146,71",
                             "--transcoders", dir + "/tc", "--out", dir + "/graph.json", "--slug", "tiny",
                             "--html", dir + "/graph.html"])
        XCTAssertEqual(graph.status, 0, graph.err)
        XCTAssertTrue(graph.out.contains("6 tokens; ") && graph.out.contains(" active features, 42 error nodes"), graph.out)
        XCTAssertTrue(graph.out.contains("completeness: every row's edges sum to its input within"), graph.out)
        XCTAssertTrue(graph.out.contains("dark matter:"), graph.out)
        let page = try String(contentsOfFile: dir + "/graph.html", encoding: .utf8)
        XCTAssertTrue(page.contains("<svg") && page.contains("Dark matter:") && page.contains("error node of MLP"), "graph page")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/graph.json"))) as! [String: Any]
        let metadata = json["metadata"] as! [String: Any]
        XCTAssertEqual(metadata["slug"] as? String, "tiny")
        XCTAssertEqual((metadata["prompt_tokens"] as! [String]).count, 6)
        XCTAssertNotNil((metadata["lantern"] as! [String: Any])["error_share"] as? Double)
        let nodes = json["nodes"] as! [[String: Any]], links = json["links"] as! [[String: Any]]
        let ids = Set(nodes.map { $0["node_id"] as! String })
        XCTAssertEqual(ids.count, nodes.count, "node ids are unique")
        let types = Set(nodes.map { $0["feature_type"] as! String })
        XCTAssertTrue(types.isSubset(of: ["cross layer transcoder", "mlp reconstruction error", "embedding", "logit"]), "\(types)")
        XCTAssertEqual(nodes.filter { $0["feature_type"] as! String == "embedding" }.count, 6)
        XCTAssertTrue(nodes.contains { $0["feature_type"] as! String == "logit" && $0["layer"] as! String == "8" })
        for node in nodes { for key in ["layer", "ctx_idx", "feature", "jsNodeId", "influence", "input"] { XCTAssertNotNil(node[key], key) } }
        XCTAssertFalse(links.isEmpty)
        for link in links {
            XCTAssertTrue(ids.contains(link["source"] as! String) && ids.contains(link["target"] as! String), "\(link)")
        }

        let bad = try run(["graph", "--model", model, "--backend", "cpu", "--token-ids", "2,165", "--transcoders", dir + "/tc/layer_1_width_32_k_4_affine"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("one transcoder per layer"), bad.err)
    }
}
