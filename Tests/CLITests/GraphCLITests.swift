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
                             "--html", dir + "/graph.html", "--contexts", "320", "--corpus", dir + "/corpus.txt", "--byte-tokens"])
        XCTAssertEqual(graph.status, 0, graph.err)
        XCTAssertTrue(graph.out.contains("6 tokens; ") && graph.out.contains(" active features, 42 error nodes"), graph.out)
        XCTAssertTrue(graph.out.contains("completeness: every row's edges sum to its input within"), graph.out)
        XCTAssertTrue(graph.out.contains("dark matter:"), graph.out)
        let page = try String(contentsOfFile: dir + "/graph.html", encoding: .utf8)
        XCTAssertTrue(page.contains("<svg") && page.contains("Dark matter:") && page.contains("error node of MLP"), "graph page")
        XCTAssertTrue(page.contains("top contexts:") && page.contains("«"), "feature hovers carry their top corpus contexts")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/graph.json"))) as! [String: Any]
        try assertNeuronpediaSchema(json)
        let metadata = json["metadata"] as! [String: Any]
        XCTAssertEqual(metadata["slug"] as? String, "tiny")
        XCTAssertEqual((metadata["prompt_tokens"] as! [String]).count, 6)
        XCTAssertNotNil((metadata["lantern"] as! [String: Any])["error_share"] as? Double)
        XCTAssertEqual((metadata["pruning_settings"] as! [String: Any])["edge_threshold"] as? Double, 0.98)
        let nodes = json["nodes"] as! [[String: Any]]
        let types = Set(nodes.map { $0["feature_type"] as! String })
        XCTAssertTrue(types.isSubset(of: ["cross layer transcoder", "mlp reconstruction error", "embedding", "logit"]), "\(types)")
        XCTAssertEqual(nodes.filter { $0["feature_type"] as! String == "embedding" }.count, 6)
        XCTAssertTrue(nodes.contains { $0["feature_type"] as! String == "logit" && $0["layer"] as! String == "8" })
        for node in nodes { for key in ["influence", "activation", "input", "unattributed"] { XCTAssertNotNil(node[key], key) } }
        XCTAssertTrue(nodes.allSatisfy { ($0["feature_type"] as! String == "cross layer transcoder") == ($0["activation"] is Double) },
                      "features have activations, other nodes null")
        XCTAssertFalse((json["links"] as! [[String: Any]]).isEmpty)

        let bad = try run(["graph", "--model", model, "--backend", "cpu", "--token-ids", "2,165", "--transcoders", dir + "/tc/layer_1_width_32_k_4_affine"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("one transcoder per layer"), bad.err)
    }

    /// Neuronpedia's graph schema ("Anthropic Attribution Graph" 1.0.0, draft-07:
    /// neuronpedia apps/webapp/app/api/graph/graph-schema.json), its required keys and types restated:
    /// top level metadata, qParams, nodes, links; metadata slug, scan, prompt (strings) and
    /// prompt_tokens (strings); node node_id, jsNodeId, feature_type, clerp (strings), feature
    /// (integer or null), layer (string or integer), ctx_idx (integer), influence and activation
    /// (number or null when present); link source, target (strings) and weight (number).
    /// tools/validate_graph_json.py checks a file against the schema itself with `jsonschema`.
    func assertNeuronpediaSchema(_ json: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws {
        for key in ["metadata", "qParams", "nodes", "links"] { XCTAssertNotNil(json[key], "top-level \(key)", file: file, line: line) }
        let metadata = try XCTUnwrap(json["metadata"] as? [String: Any])
        for key in ["slug", "scan", "prompt"] { XCTAssertNotNil(metadata[key] as? String, "metadata.\(key) is a string", file: file, line: line) }
        XCTAssertNotNil(metadata["prompt_tokens"] as? [String], "metadata.prompt_tokens are strings", file: file, line: line)
        XCTAssertNotNil(metadata["node_threshold"] as? Double, "metadata.node_threshold is a number", file: file, line: line)
        XCTAssertNotNil(json["qParams"] as? [String: Any], "qParams is an object", file: file, line: line)
        let nodes = try XCTUnwrap(json["nodes"] as? [[String: Any]]), links = try XCTUnwrap(json["links"] as? [[String: Any]])
        // draft-07: an integer is any number with no fractional part.
        func isInteger(_ value: Any?) -> Bool { value as? Int != nil }
        for node in nodes {
            for key in ["node_id", "jsNodeId", "feature_type", "clerp"] { XCTAssertNotNil(node[key] as? String, "node.\(key) is a string: \(node)", file: file, line: line) }
            XCTAssertTrue(isInteger(node["feature"]) || node["feature"] is NSNull, "node.feature is an integer or null: \(node)", file: file, line: line)
            XCTAssertTrue(node["layer"] is String || isInteger(node["layer"]), "node.layer is a string or integer: \(node)", file: file, line: line)
            XCTAssertTrue(isInteger(node["ctx_idx"]), "node.ctx_idx is an integer: \(node)", file: file, line: line)
            for key in ["influence", "activation"] where node[key] != nil {
                XCTAssertTrue(node[key] is Double || node[key] is NSNull, "node.\(key) is a number or null", file: file, line: line)
            }
        }
        let ids = Set(nodes.compactMap { $0["node_id"] as? String })
        XCTAssertEqual(ids.count, nodes.count, "node ids are unique", file: file, line: line)
        // Error nodes as circuit-tracer's writer names them ({layer}_-1_{pos}), found by their type;
        // the older 0_{layer}_{pos} would name a layer-0 feature too.
        for node in nodes where (node["feature_type"] as? String)?.contains("error") == true {
            let expected = "\(node["layer"] ?? "?")_-1_\(node["ctx_idx"] ?? "?")"
            XCTAssertEqual(node["node_id"] as? String, expected, "error node id", file: file, line: line)
            XCTAssertEqual(node["feature_type"] as? String, "mlp reconstruction error", file: file, line: line)
        }
        for link in links {
            let source = link["source"] as? String, target = link["target"] as? String
            XCTAssertTrue(source.map(ids.contains) == true && target.map(ids.contains) == true, "link ends are nodes: \(link)", file: file, line: line)
            XCTAssertNotNil(link["weight"] as? Double, "link.weight is a number", file: file, line: line)
        }
    }
}
