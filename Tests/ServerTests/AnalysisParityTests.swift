import Foundation
import XCTest

/// One request, one answer: the CLI's `--json` and the server's response body are the same bytes
/// for every analysis of the catalog, because both only adapt the same request and result types.
final class AnalysisParityTests: ServerTestCase {
    var common: [String] { ["--model", Self.modelPath] }

    func assertSameBytes(_ path: String, _ body: [String: Any], _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) async throws {
        let (status, served) = try await fetch(path, body)
        XCTAssertEqual(status, 200, String(decoding: served, as: UTF8.self), file: file, line: line)
        let printed = try cliOutput(arguments + common + ["--json"])
        XCTAssertEqual(String(decoding: served, as: UTF8.self), String(decoding: printed, as: UTF8.self),
                       "\(path): the server's bytes differ from `lantern \(arguments.joined(separator: " ")) --json`", file: file, line: line)
    }

    func testTheServerAndTheCLIWriteTheSameBytes() async throws {
        try await startServer()
        let ids = [2, 5, 9, 11, 40]
        try await assertSameBytes("/api/next", ["token_ids": ids, "top": 7], ["next", "--token-ids", "2,5,9,11,40", "--top", "7"])
        try await assertSameBytes("/api/lens", ["token_ids": ids, "top_k": 2, "target": 9],
                                  ["lens", "--token-ids", "2,5,9,11,40", "--top-k", "2", "--target", "9", "--tuned", Self.tunedPath])
        try await assertSameBytes("/api/attention", ["token_ids": ids, "layers": [2, 0]], ["attention", "--token-ids", "2,5,9,11,40", "--layer", "2,0"])
        try await assertSameBytes("/api/generate", ["token_ids": ids, "max_new_tokens": 6, "temperature": 0.8, "seed": 3],
                                  ["generate", "--token-ids", "2,5,9,11,40", "--max-new-tokens", "6", "--temperature", "0.8", "--seed", "3"])
        try await assertSameBytes("/api/steer", ["token_ids": [2, 5, 9], "features": [["feature": 3, "strength": 30], ["feature": 4, "strength": 30]],
                                                 "max_new_tokens": 6, "promoted": 4],
                                  ["steer", "--sae", Self.saePath, "--feature", "3,4", "--strength", "30", "--token-ids", "2,5,9",
                                   "--max-new-tokens", "6", "--promoted", "4"])
        try await assertSameBytes("/api/steer", ["token_ids": [2, 5, 9], "features": [["feature": 3, "strength": 8]], "mode": "clamp",
                                                 "max_new_tokens": 4],
                                  ["steer", "--sae", Self.saePath, "--feature", "3", "--strength", "8", "--mode", "clamp",
                                   "--token-ids", "2,5,9", "--max-new-tokens", "4"])
        try await assertSameBytes("/api/patch/sweep", ["token_ids": ids, "corrupted_token_ids": [2, 7, 9, 11, 40], "target": 9, "baseline": 11,
                                                       "hooks": ["blocks.*.hook_resid_pre", "blocks.1.attn.hook_z"], "method": "both"],
                                  ["patch", "sweep", "--token-ids", "2,5,9,11,40", "--source-token-ids", "2,7,9,11,40", "--target", "9",
                                   "--baseline", "11", "--hooks", "blocks.*.hook_resid_pre", "blocks.1.attn.hook_z", "--approx", "--compare"])
        try await assertSameBytes("/api/attribute", ["token_ids": ids, "target": 9, "baseline": 11],
                                  ["attribute", "--token-ids", "2,5,9,11,40", "--target", "9", "--baseline", "11"])
        try await assertSameBytes("/api/patch", ["token_ids": ids, "hook": "blocks.1.hook_resid_post", "mode": "patch", "positions": [1, 2],
                                                 "source_token_ids": [2, 7, 9, 11, 40], "target": 9],
                                  ["patch", "--token-ids", "2,5,9,11,40", "--hook", "blocks.1.hook_resid_post", "--mode", "patch",
                                   "--positions", "1,2", "--source-token-ids", "2,7,9,11,40", "--target", "9"])
    }

    /// The attribution graph: the server's /api/graph and `lantern graph --json` through the same transcoders.
    func testGraphsAreTheSameBytes() async throws {
        try await startServer(graphs: true)
        let (status, served) = try await fetch("/api/graph", ["token_ids": [2, 5, 9, 11], "batch_size": 8, "node_threshold": 0.7])
        XCTAssertEqual(status, 200, String(decoding: served, as: UTF8.self))
        let printed = try cliOutput(["graph", "--model", Self.graphModelPath, "--transcoders", Self.transcodersPath, "--token-ids", "2,5,9,11",
                                     "--batch-size", "8", "--node-threshold", "0.7", "--json"])
        // The same bytes but for the moment each graph was made.
        func timeless(_ data: Data) -> String {
            String(decoding: data, as: UTF8.self).replacingOccurrences(of: #""create_time_ms":[0-9]+"#, with: "\"create_time_ms\":0", options: .regularExpression)
        }
        XCTAssertTrue(timeless(served).contains("\"create_time_ms\":0"))
        XCTAssertEqual(timeless(served), timeless(printed))
    }

    /// A request with a key the analysis does not have is refused (a typo is not a silent default),
    /// and so is a value of the wrong type, each naming the field.
    func testUnknownAndMistypedFieldsAreRefused() async throws {
        try await startServer()
        let cases: [(String, [String: Any], String)] = [
            ("/api/next", ["token_ids": [2], "topk": 3], "'topk' is not a field of this request"),
            ("/api/lens", ["token_ids": [2], "top_k": "3"], "'top_k' must be an integer"),
            ("/api/generate", ["token_ids": [2], "stop_at_eos": 1], "'stop_at_eos' must be true or false"),
            ("/api/steer", ["token_ids": [2], "features": [["feature": 3, "strenght": 1]]], "'strenght' is not a field"),
            ("/api/steer", ["token_ids": [2], "features": [["feature": 3, "strength": 1]], "direction": [1, "x"]], "'direction' must be a list of numbers"),
        ]
        for (path, body, message) in cases {
            let r = try await call(path, body)
            XCTAssertEqual(r.status, 400, "\(path) \(body)")
            XCTAssertTrue((r.json["error"] as? String ?? "").contains(message), "\(path): \(r.json) lacks '\(message)'")
        }
    }

    /// The OpenAPI document's request bodies are the requests' own fields, with this server's limits.
    func testOpenAPIRequestBodiesCarryTheLimits() async throws {
        try await startServer()
        let spec = try await call("/openapi.json").json
        func schema(_ path: String) -> [String: Any] {
            let post = ((spec["paths"] as! [String: Any])[path] as! [String: Any])["post"] as! [String: Any]
            return ((((post["requestBody"] as! [String: Any])["content"] as! [String: Any])["application/json"] as! [String: Any])["schema"]) as! [String: Any]
        }
        let next = schema("/api/next")["properties"] as! [String: [String: Any]]
        XCTAssertEqual(Set(next.keys), ["prompt", "token_ids", "top"])
        XCTAssertEqual(next["top"]?["maximum"] as? Int, 200, "the server's top-count limit")
        XCTAssertEqual(schema("/api/next")["additionalProperties"] as? Bool, false)
        let steer = schema("/api/steer")["properties"] as! [String: [String: Any]]
        XCTAssertEqual(steer["max_new_tokens"]?["maximum"] as? Int, 128)
        XCTAssertEqual(steer["features"]?["maxItems"] as? Int, 16)
        XCTAssertEqual(steer["mode"]?["enum"] as? [String], ["add", "clamp"])
    }
}
