import Foundation
import LanternServer
import XCTest

/// Attribution graphs and patching sweeps over the API: the CLI's JSON on the fixtures, streamed
/// progress, refusals, `next` answered while a graph runs, a graph cancelled by a hang-up.
final class ServerGraphTests: ServerTestCase {
    static let graphIDs = [2, 165, 234, 93, 146, 71]

    /// The JSON without the one value that differs between two runs by design (the creation time).
    func comparable(_ graph: [String: Any]) -> NSDictionary {
        var copy = graph
        var metadata = copy["metadata"] as? [String: Any] ?? [:]
        var info = metadata["info"] as? [String: Any] ?? [:]
        XCTAssertNotNil(info.removeValue(forKey: "create_time_ms"))
        metadata["info"] = info
        copy["metadata"] = metadata
        return copy as NSDictionary
    }

    func testGraphReturnsTheCLIsOutFile() async throws {
        try await startServer(graphs: true)
        let ids = Self.graphIDs.map(String.init).joined(separator: ",")
        let common = ["graph", "--model", Self.graphModelPath, "--transcoders", Self.transcodersPath, "--token-ids", ids]
        let plain = try await call("/api/graph", ["token_ids": Self.graphIDs])
        XCTAssertEqual(plain.status, 200, "\(plain.json)")
        let cliGraph = try cliFile(common)
        XCTAssertEqual(comparable(plain.json), comparable(cliGraph),
                       "the API's graph differs from `lantern graph --out`: " + Self.firstDifference(comparable(plain.json), comparable(cliGraph)))
        XCTAssertFalse((plain.json["nodes"] as? [Any] ?? []).isEmpty)

        let options: [String: Any] = ["token_ids": Self.graphIDs, "node_threshold": 0.5, "edge_threshold": 0.9, "max_logits": 3,
                                      "max_feature_nodes": 20, "batch_size": 7, "conventions": "circuit-tracer", "slug": "served"]
        let budget = try await call("/api/graph", options)
        XCTAssertEqual(budget.status, 200, "\(budget.json)")
        let cli = try cliFile(common + ["--node-threshold", "0.5", "--edge-threshold", "0.9", "--max-logits", "3", "--max-feature-nodes", "20",
                                        "--batch-size", "7", "--conventions", "circuit-tracer", "--slug", "served"])
        XCTAssertEqual(comparable(budget.json), comparable(cli), "with options: " + Self.firstDifference(comparable(budget.json), comparable(cli)))
        XCTAssertNotEqual(comparable(budget.json), comparable(plain.json), "the options changed the graph")

        // The stream: start, progress up to every target, then the same graph.
        let (status, data) = try await fetch("/api/graph/stream", ["token_ids": Self.graphIDs])
        XCTAssertEqual(status, 200)
        let events = Self.events(data)
        XCTAssertEqual(events.first?.name, "start")
        let progress = events.filter { $0.name == "progress" }.map { ($0.data["done"] as! Int, $0.data["total"] as! Int) }
        XCTAssertGreaterThan(progress.count, 2)
        XCTAssertEqual(progress.map(\.0), progress.map(\.0).sorted(), "progress only goes forward")
        XCTAssertEqual(progress.last.map { $0.0 == $0.1 }, true, "the last progress event has every target done")
        XCTAssertEqual(events.last?.name, "done")
        XCTAssertEqual(comparable(events.last!.data), comparable(plain.json), "the streamed graph is the plain one")
    }

    func testTranscoderFeatureContexts() async throws {
        try await startServer(graphs: true)
        let r = try await call("/api/transcoder-feature", ["layer": 2, "feature": 5])
        XCTAssertEqual(r.status, 200, "\(r.json)")
        XCTAssertEqual(r.json["scanned_tokens"] as? Int, 62, "2 on-demand contexts of 32 tokens, BOS not counted")
        XCTAssertLessThanOrEqual((r.json["contexts"] as? [String])?.count ?? 99, 3)
        // Its logit effects: the eight most raised tokens, largest first, and the eight most lowered.
        let logits = r.json["logits"] as? [String: [[String: Any]]]
        let raised = (logits?["positive"] ?? []).compactMap { $0["logit"] as? Double }, lowered = (logits?["negative"] ?? []).compactMap { $0["logit"] as? Double }
        XCTAssertEqual(raised.count, 8, "\(r.json)")
        XCTAssertEqual(lowered.count, 8, "\(r.json)")
        XCTAssertEqual(raised, raised.sorted(by: >))
        XCTAssertEqual(lowered, lowered.sorted())
        XCTAssertGreaterThanOrEqual(raised.first ?? -1, lowered.first ?? 0)
        let bad = try await call("/api/transcoder-feature", ["layer": 7, "feature": 5])
        XCTAssertEqual(bad.status, 400)
        XCTAssertTrue((bad.json["error"] as? String ?? "").contains("'layer'"), "\(bad.json)")
    }

    func testPatchSweepReturnsTheCLIsJSON() async throws {
        try await startServer()
        let common = ["patch", "sweep", "--model", Self.modelPath, "--token-ids", "2,5,9,11,40", "--source-token-ids", "2,5,7,11,40", "--target", "17"]
        let body: [String: Any] = ["token_ids": [2, 5, 9, 11, 40], "corrupted_token_ids": [2, 5, 7, 11, 40], "target": 17]
        let plain = try await call("/api/patch/sweep", body)
        XCTAssertEqual(plain.status, 200, "\(plain.json)")
        XCTAssertEqual(plain.json as NSDictionary, try cli(common) as NSDictionary, "resid_pre sweep")
        let grid = (plain.json["grids"] as! [[String: Any]])[0]
        XCTAssertEqual((grid["values"] as! [[Double]]).count, 4, "one row per layer of the tiny model")

        var both = body
        both["hooks"] = ["blocks.*.attn.hook_z", "blocks.1.hook_mlp_out"]
        both["baseline"] = 3
        both["method"] = "both"
        let approx = try await call("/api/patch/sweep", both)
        XCTAssertEqual(approx.status, 200, "\(approx.json)")
        let expected = try cli(common + ["--hooks", "blocks.*.attn.hook_z", "blocks.1.hook_mlp_out", "--baseline", "3", "--approx", "--compare"])
        XCTAssertEqual(approx.json as NSDictionary, expected as NSDictionary, "per-head sweep with its attribution estimate")

        let (status, data) = try await fetch("/api/patch/sweep/stream", body)
        XCTAssertEqual(status, 200)
        let events = Self.events(data)
        XCTAssertEqual(events.filter { $0.name == "progress" }.last?.data["done"] as? Int, 20, "4 layers × 5 positions")
        XCTAssertEqual(events.last?.data as NSDictionary?, plain.json as NSDictionary)
    }

    func testBadGraphAndSweepRequestsGetJSONErrors() async throws {
        var limits = ServerLimits()
        limits.sweepCells = 10
        try await startServer(limits: limits)
        let noTranscoders = try await call("/api/graph", ["token_ids": [2, 5]])
        XCTAssertEqual(noTranscoders.status, 404)
        XCTAssertTrue((noTranscoders.json["error"] as? String ?? "").contains("--transcoders"))
        let sweep: [String: Any] = ["token_ids": [2, 5, 9], "corrupted_token_ids": [2, 6, 9], "target": 17]
        let cases: [(String, [String: Any], Int, String)] = [
            ("/api/patch/sweep", ["token_ids": [2, 5, 9], "corrupted_token_ids": [2, 6, 9]], 400, "'target'"),
            ("/api/patch/sweep", ["token_ids": [2, 5, 9], "target": 17], 400, "'corrupted_prompt'"),
            ("/api/patch/sweep", sweep.merging(["corrupted_token_ids": [2, 6]]) { $1 }, 400, "the same token length"),
            ("/api/patch/sweep", sweep.merging(["hooks": ["blocks.*.nothing"]]) { $1 }, 400, "matches no hook"),
            ("/api/patch/sweep", sweep.merging(["hooks": "blocks.0.hook_resid_pre"]) { $1 }, 400, "'hooks'"),
            ("/api/patch/sweep", sweep.merging(["method": "guess"]) { $1 }, 400, "'method'"),
            ("/api/patch/sweep", sweep.merging(["target": 100_000]) { $1 }, 400, "out of range"),
            ("/api/patch/sweep", sweep, 413, "at most 10"),
            ("/api/patch/sweep/stream", sweep.merging(["method": "guess"]) { $1 }, 400, "'method'"),
            ("/api/graph/stream", ["token_ids": [2, 5]], 404, "--transcoders"),
        ]
        for (path, body, status, words) in cases {
            let r = try await call(path, body)
            XCTAssertEqual(r.status, status, "\(path) \(body): \(r.json)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(words), "\(path) \(body): \(r.json)")
        }
    }

    func testBadGraphOptionsGetJSONErrors() async throws {
        var limits = ServerLimits()
        limits.graphTokens = 8
        try await startServer(limits: limits, graphs: true)
        let cases: [([String: Any], Int, String)] = [
            (["token_ids": [2, 5], "node_threshold": 0], 400, "'node_threshold'"),
            (["token_ids": [2, 5], "edge_threshold": 1.5], 400, "'edge_threshold'"),
            (["token_ids": [2, 5], "conventions": "other"], 400, "'conventions'"),
            (["token_ids": [2, 5], "batch_size": 0], 400, "'batch_size'"),
            (["token_ids": [2, 5], "max_feature_nodes": -1], 400, "'max_feature_nodes'"),
            (["token_ids": Array(repeating: 5, count: 9)], 413, "at most 8"),
            (["prompt": "x", "token_ids": [2]], 400, "not both"),
        ]
        for path in ["/api/graph", "/api/graph/stream"] {
            for (body, status, words) in cases {
                let r = try await call(path, body)
                XCTAssertEqual(r.status, status, "\(path) \(body): \(r.json)")
                XCTAssertTrue((r.json["error"] as? String ?? "").contains(words), "\(path) \(body): \(r.json)")
            }
        }
    }

    /// Where two JSON values first differ ("" when they are equal), for a failure message.
    static func firstDifference(_ a: Any, _ b: Any, _ path: String = "") -> String {
        if let x = a as? [String: Any], let y = b as? [String: Any] {
            for key in Set(x.keys).union(y.keys).sorted() {
                guard let p = x[key], let q = y[key] else { return "\(path)/\(key): on one side only" }
                let d = firstDifference(p, q, "\(path)/\(key)")
                if !d.isEmpty { return d }
            }
            return ""
        }
        if let x = a as? [Any], let y = b as? [Any] {
            guard x.count == y.count else { return "\(path): \(x.count) vs \(y.count) items" }
            for (i, (p, q)) in zip(x, y).enumerated() {
                let d = firstDifference(p, q, "\(path)[\(i)]")
                if !d.isEmpty { return d }
            }
            return ""
        }
        return (a as? NSObject) == (b as? NSObject) ? "" : "\(path): \(a) vs \(b)"
    }

    /// The events of a server-sent event stream: (name, JSON data).
    static func events(_ data: Data) -> [(name: String, data: [String: Any])] {
        String(decoding: data, as: UTF8.self).components(separatedBy: "\n\n").compactMap { block in
            let lines = block.split(separator: "\n")
            guard let name = lines.first(where: { $0.hasPrefix("event: ") })?.dropFirst(7),
                  let payload = lines.first(where: { $0.hasPrefix("data: ") })?.dropFirst(6),
                  let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { return nil }
            return (String(name), object)
        }
    }
}
