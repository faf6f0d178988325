import Foundation
import Lantern
import LanternServer
import XCTest

/// The API against the CLI's --json on the tiny fixtures, concurrent clients, refusals.
final class ServerAPITests: ServerTestCase {
    var common: [String] { ["--model", Self.modelPath] }

    /// Removes keys (at any depth) that only one side has by design.
    func stripped(_ value: Any, _ keys: Set<String>) -> Any {
        if let d = value as? [String: Any] {
            return d.filter { !keys.contains($0.key) }.mapValues { stripped($0, keys) }
        }
        if let a = value as? [Any] { return a.map { stripped($0, keys) } }
        return value
    }

    func assertSame(_ api: [String: Any], _ cli: [String: Any], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue((api as NSDictionary).isEqual(to: cli), "\(what): the API's JSON differs from the CLI's", file: file, line: line)
    }

    func testAnalysesReturnTheCLIsJSON() async throws {
        try await startServer()
        let ids = [2, 5, 9, 11, 40]
        let next = try await call("/api/next", ["token_ids": ids, "top": 5])
        XCTAssertEqual(next.status, 200)
        assertSame(next.json, try cli(["next"] + common + ["--token-ids", "2,5,9,11,40", "--top", "5"]), "next")
        XCTAssertEqual((next.json["top"] as! [Any]).count, 5)

        let lens = try await call("/api/lens", ["token_ids": ids, "top_k": 3])
        XCTAssertEqual(lens.status, 200)
        assertSame(lens.json, try cli(["lens"] + common + ["--token-ids", "2,5,9,11,40", "--top-k", "3", "--tuned", Self.tunedPath]), "lens")
        XCTAssertNotNil(lens.json["tuned"], "the tuned lens is served beside the logit lens")

        let attention = try await call("/api/attention", ["token_ids": ids, "layers": [1, 3]])
        assertSame(attention.json, try cli(["attention"] + common + ["--token-ids", "2,5,9,11,40", "--layer", "1,3"]), "attention")

        let features = try await call("/api/features", ["token_ids": ids, "top": 2])
        XCTAssertEqual(features.status, 200)
        assertSame(stripped(features.json, ["density", "label"]) as! [String: Any],
                   try cli(["features"] + common + ["--sae", Self.saePath, "--token-ids", "2,5,9,11,40", "--top", "2"]), "features")

        let text = try await call("/api/next", ["prompt": "to be", "top": 3])
        XCTAssertEqual(text.json["ids"] as? [Int], [2] + "to be".utf8.map(Int.init), "text as bytes after BOS (--byte-tokens)")
    }

    func testDashboardOnDemandThenFromTheBackgroundScan() async throws {
        try await startServer()
        // Right after start the scan may still run: either way a dashboard comes back.
        let first = try await call("/api/feature", ["feature": 5])
        XCTAssertEqual(first.status, 200, "\(first.json)")
        XCTAssertNotNil((first.json["dashboard"] as? [String: Any])?["examples"])
        var state = ""
        for _ in 0..<600 where state != "done" {
            state = ((try await call("/api/scan")).json["scans"] as! [[String: Any]])[0]["state"] as! String
            if state != "done" { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        XCTAssertEqual(state, "done")
        let scanned = try await call("/api/feature", ["feature": 5])
        XCTAssertEqual(scanned.json["source"] as? String, "background scan")
        let expected = try cli(["feature", "--id", "5"] + common + ["--sae", Self.saePath, "--corpus", corpusPath, "--byte-tokens",
                                                                   "--context", "32", "--tokens", "128"])
        assertSame(scanned.json["dashboard"] as! [String: Any], expected["dashboard"] as! [String: Any], "dashboard")
        // The feature search reads the same scan: the CLI's answer over the same corpus.
        let search = try await call("/api/feature/search", ["query": "#111", "top": 5])
        XCTAssertEqual(search.json["source"] as? String, "background scan")
        let searched = try cli(["features", "search", "--query", "#111", "--top", "5"] + common + ["--sae", Self.saePath, "--corpus", corpusPath,
                                                                                                 "--byte-tokens", "--context", "32", "--tokens", "128"])
        assertSame(["results": search.json["results"] as Any], ["results": searched["results"] as Any], "feature search")
        XCTAssertFalse((search.json["results"] as! [[String: Any]]).isEmpty)
        // Once scanned, features carry their density and label.
        let features = try await call("/api/features", ["token_ids": [2, 116, 111], "top": 2])
        let f = ((features.json["tokens"] as! [[String: Any]])[1]["features"] as! [[String: Any]])[0]
        XCTAssertNotNil(f["density"])
    }

    func testNeuronView() async throws {
        try await startServer()
        let perToken = try await call("/api/neurons", ["token_ids": [2, 5, 9], "layer": 1, "top": 3])
        XCTAssertEqual(perToken.status, 200, "\(perToken.json)")
        let tokens = perToken.json["tokens"] as! [[String: Any]]
        XCTAssertEqual(tokens.count, 3)
        for t in tokens {
            let values = (t["neurons"] as! [[String: Any]]).map { $0["activation"] as! Double }
            XCTAssertEqual(values.count, 3)
            XCTAssertEqual(values, values.sorted(by: >))
        }
        // The dashboard over the first two 32-byte contexts: `lantern neuron` over 64 tokens.
        let dashboard = try await call("/api/neuron", ["layer": 1, "neuron": 5])
        XCTAssertEqual(dashboard.status, 200, "\(dashboard.json)")
        // The same dashboard; only where the scan came from differs ("on demand" against "corpus scan").
        assertSame(stripped(dashboard.json, ["source"]) as! [String: Any],
                   stripped(try cli(["neuron", "--layer", "1", "--id", "5"] + common + ["--corpus", corpusPath, "--byte-tokens",
                                                                                     "--context", "32", "--tokens", "64"]), ["source"]) as! [String: Any], "neuron")
        let bad = try await call("/api/neuron", ["layer": 1, "neuron": 128])
        XCTAssertEqual(bad.status, 400)
    }

    func testSteeringStreamsTheCLIsContinuations() async throws {
        try await startServer()
        let body: [String: Any] = ["token_ids": [2, 5, 9], "features": [["feature": 3, "strength": 30], ["feature": 4, "strength": 30]],
                                   "max_new_tokens": 6]
        let expected = try cli(["steer"] + common + ["--sae", Self.saePath, "--feature", "3,4", "--strength", "30",
                                                    "--token-ids", "2,5,9", "--max-new-tokens", "6"])
        let whole = try await call("/api/steer", body)
        XCTAssertEqual(whole.status, 200, "\(whole.json)")
        for key in ["baseline", "steered", "baseline_text", "steered_text", "prompt"] {
            XCTAssertEqual(whole.json[key] as? NSObject, expected[key] as? NSObject, key)
        }
        XCTAssertNotEqual(expected["baseline"] as! [Int], expected["steered"] as! [Int], "strength 30 changes the continuation")
        // The stream: token events one forward pass each, then the same object.
        let (status, data) = try await fetch("/api/steer/stream", body)
        XCTAssertEqual(status, 200)
        let events = String(decoding: data, as: UTF8.self).components(separatedBy: "\n\n").filter { !$0.isEmpty }
        var streamed: [String: [Int]] = [:]
        var done: [String: Any] = [:]
        for event in events {
            let lines = event.split(separator: "\n")
            let name = lines[0].dropFirst("event: ".count), json = lines[1].dropFirst("data: ".count)
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
            if name == "token" { streamed[object["run"] as! String, default: []].append(object["id"] as! Int) }
            if name == "done" { done = object }
        }
        XCTAssertEqual(streamed["baseline"], expected["baseline"] as? [Int])
        XCTAssertEqual(streamed["steered"], expected["steered"] as? [Int])
        XCTAssertEqual(done["steered"] as? [Int], expected["steered"] as? [Int])
        // One strength per feature (what the page's sliders send) is the sum of the scaled directions.
        let mixed = try await call("/api/steer", ["token_ids": [2, 5, 9], "features": [["feature": 3, "strength": 100], ["feature": 4, "strength": 0]],
                                                  "max_new_tokens": 6])
        let single = try cli(["steer"] + common + ["--sae", Self.saePath, "--feature", "3", "--strength", "100", "--token-ids", "2,5,9", "--max-new-tokens", "6"])
        XCTAssertEqual(mixed.json["steered"] as? [Int], single["steered"] as? [Int])
    }

    /// Clamp mode: one strength for all is `lantern steer --mode clamp`; each feature its own
    /// strength is Lantern's clamp with those strengths, and differs from either uniform clamp.
    func testClampModeTakesAStrengthPerFeature() async throws {
        try await startServer()
        func clamp(_ a: Double, _ b: Double) async throws -> [String: Any] {
            let r = try await call("/api/steer", ["token_ids": [2, 5, 9], "mode": "clamp", "max_new_tokens": 6,
                                                  "features": [["feature": 3, "strength": a], ["feature": 4, "strength": b]]])
            XCTAssertEqual(r.status, 200, "\(r.json)")
            return r.json
        }
        let uniform = try await clamp(40, 40)
        let expected = try cli(["steer"] + common + ["--sae", Self.saePath, "--feature", "3,4", "--strength", "40", "--mode", "clamp",
                                                    "--token-ids", "2,5,9", "--max-new-tokens", "6"])
        XCTAssertEqual(uniform["steered"] as? [Int], expected["steered"] as? [Int], "one strength for all: the CLI's clamp")
        let mixed = try await clamp(40, -40)
        XCTAssertEqual(mixed["strengths"] as? [Double], [40, -40])
        XCTAssertEqual(mixed["mode"] as? String, "clamp")
        let backend = CPUBackend()
        let model = try LanternModel.load(directory: Self.modelPath, backend: backend)
        let steering = Steering(sae: try SAE.load(path: Self.saePath, backend: backend), features: [3, 4], strength: 0, strengths: [40, -40], mode: .clamp)
        let reference = try steering.compare(model.transformer, prompt: [2, 5, 9], maxNewTokens: 6)
        XCTAssertEqual(mixed["steered"] as? [Int], reference.steered.tokens.map(Int.init), "the library's clamp with those strengths")
        let low = try await clamp(-40, -40)
        XCTAssertTrue(mixed["steered"] as! [Int] != uniform["steered"] as! [Int] || mixed["steered"] as! [Int] != low["steered"] as! [Int],
                      "a strength per feature is not one strength for all")
        let twice = try await call("/api/steer", ["token_ids": [2, 5], "mode": "clamp", "features": [["feature": 3, "strength": 1], ["feature": 3, "strength": 2]]])
        XCTAssertEqual(twice.status, 400)
    }

    func testConcurrentClientsGetTheirOwnAnswers() async throws {
        try await startServer()
        let prompts = (0..<8).map { [2, 10 + $0, 20 + 2 * $0, 7] }
        var sequential: [[String: Any]] = []
        for p in prompts { sequential.append(try await call("/api/next", ["token_ids": p, "top": 4]).json) }
        let base = self.base
        let bodies = try prompts.map { try JSONSerialization.data(withJSONObject: ["token_ids": $0, "top": 4]) }
        let lensBodies = try prompts.map { try JSONSerialization.data(withJSONObject: ["token_ids": $0]) }
        // Eight `next` and eight `lens` requests at once, from sixteen clients.
        let answers = try await withThrowingTaskGroup(of: (Int, Data).self) { group in
            for i in prompts.indices {
                group.addTask { (i, try await Self.post(base, "/api/next", bodies[i])) }
                group.addTask { (-1, try await Self.post(base, "/api/lens", lensBodies[i])) }
            }
            var answers = [Data](repeating: Data(), count: prompts.count)
            for try await (i, data) in group where i >= 0 { answers[i] = data }
            return answers
        }
        let concurrent = try answers.map { try JSONSerialization.jsonObject(with: $0) as! [String: Any] }
        for i in prompts.indices { assertSameNext(concurrent[i], sequential[i], "prompt \(i)") }
    }

    /// A merged `next` answer is the lone one to summation order: the same ids and tokens in the
    /// same order, probabilities and logits within 1e-5 relative (the batch's products take the
    /// many-row kernel where a 4-token prompt alone takes the few-row one).
    func assertSameNext(_ merged: [String: Any], _ alone: [String: Any], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(merged["ids"] as? [Int], alone["ids"] as? [Int], what, file: file, line: line)
        let a = merged["top"] as! [[String: Any]], b = alone["top"] as! [[String: Any]]
        XCTAssertEqual(a.map { $0["id"] as! Int }, b.map { $0["id"] as! Int }, what, file: file, line: line)
        XCTAssertEqual(a.map { $0["token"] as! String }, b.map { $0["token"] as! String }, what, file: file, line: line)
        for key in ["prob", "logit"] {
            for (x, y) in zip(a.map { $0[key] as! Double }, b.map { $0[key] as! Double }) {
                XCTAssertEqual(x, y, accuracy: 1e-5 * max(abs(y), 1e-3), "\(what) \(key)", file: file, line: line)
            }
        }
    }

    /// Concurrent `next` requests run as fewer passes than requests (merged while the queue is
    /// busy), and each answer is its lone one; with merging off every request is a pass of its own.
    func testConcurrentNextRequestsShareAPass() async throws {
        for merge in [true, false] {
            var limits = ServerLimits()
            limits.mergedRows = merge ? 1024 : 0
            try await startServer(limits: limits)
            while (try await call("/api/scan").json["scans"] as! [[String: Any]]).contains(where: { ($0["state"] as? String) == "scanning" }) {
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            let prompts = (0..<24).map { [2, 10 + $0, 20 + 2 * $0, 7, 30 + $0] }
            var alone: [[String: Any]] = []
            for p in prompts { alone.append(try await call("/api/next", ["token_ids": p, "top": 5]).json) }
            let ranBefore = (try await call("/api/info").json["queue"] as! [String: Any])["ran"] as! Int
            let base = self.base
            let bodies = try prompts.map { try JSONSerialization.data(withJSONObject: ["token_ids": $0, "top": 5]) }
            let answers = try await withThrowingTaskGroup(of: (Int, Data).self) { group in
                for i in prompts.indices { group.addTask { (i, try await Self.post(base, "/api/next", bodies[i])) } }
                var answers = [Data](repeating: Data(), count: prompts.count)
                for try await (i, data) in group { answers[i] = data }
                return answers
            }
            let ran = (try await call("/api/info").json["queue"] as! [String: Any])["ran"] as! Int - ranBefore
            for i in prompts.indices {
                assertSameNext(try JSONSerialization.jsonObject(with: answers[i]) as! [String: Any], alone[i], "prompt \(i)")
            }
            if merge { XCTAssertLessThan(ran, prompts.count, "24 concurrent requests merged into fewer passes") }
            else { XCTAssertEqual(ran, prompts.count, "merging off: a pass per request") }
            try await tearDown()
        }
    }

    func testBadRequestsGetJSONErrors() async throws {
        var limits = ServerLimits()
        limits.bodyBytes = 2048
        limits.promptTokens = 16
        try await startServer(limits: limits)
        let cases: [(String, Any?, Data?, Int, String)] = [
            ("/api/next", nil, Data("{not json".utf8), 400, "one JSON object"),
            ("/api/next", ["top": 3], nil, 400, "give 'prompt'"),
            ("/api/next", ["prompt": "x", "token_ids": [2]], nil, 400, "not both"),
            ("/api/next", ["token_ids": [2, 999]], nil, 400, "out of range"),
            ("/api/next", ["token_ids": [2], "top": 0], nil, 400, "'top'"),
            ("/api/next", ["token_ids": [2], "top": true], nil, 400, "'top'"),
            ("/api/next", ["token_ids": Array(repeating: 5, count: 40)], nil, 413, "at most 16"),
            ("/api/next", nil, Data(("{\"prompt\":\"" + String(repeating: "a", count: 5000) + "\"}").utf8), 413, "larger than 2048"),
            ("/api/features", ["token_ids": [2, 5], "sae": "/etc/passwd"], nil, 403, "not a path"),
            ("/api/next", ["token_ids": [2, 5], "model": "/root/.cache/lantern"], nil, 403, "never read from a request"),
            ("/api/features", ["token_ids": [2, 5], "sae": 3], nil, 400, "'sae'"),
            ("/api/feature", ["feature": 96], nil, 400, "'feature'"),
            ("/api/feature/search", ["query": " "], nil, 400, "'query'"),
            ("/api/lens", ["token_ids": [2, 5], "target": "ab"], nil, 400, "no tokenizer"),
            ("/api/attention", ["token_ids": [2, 5], "layers": [4]], nil, 400, "out of range"),
            ("/api/steer", ["token_ids": [2, 5], "features": [["feature": 3, "strength": 1e9]]], nil, 400, "'strength'"),
            ("/api/steer/stream", ["token_ids": [2, 5], "features": []], nil, 400, "'features'"),
            ("/api/nothing", nil, nil, 404, "no such endpoint"),
            ("/%2e%2e/%2e%2e/etc/passwd", nil, nil, 404, "no such endpoint"),
        ]
        for (path, body, raw, status, message) in cases {
            let r = try await call(path, body, raw: raw)
            XCTAssertEqual(r.status, status, "\(path) \(String(describing: body))")
            let error = r.json["error"] as? String ?? ""
            XCTAssertTrue(error.contains(message), "\(path): '\(error)' should say '\(message)'")
            XCTAssertEqual(r.json.count, 1, "only the error")
        }
        // The server still answers after all that.
        let ok = try await call("/api/features", ["token_ids": [2, 5], "sae": 0, "top": 1])
        XCTAssertEqual(ok.status, 200, "\(ok.json)")
        XCTAssertEqual(((ok.json["tokens"] as? [[String: Any]])?[1]["features"] as? [Any])?.count, 1)
    }

    func testPageAndOpenAPIAreServed() async throws {
        try await startServer()
        let (status, page) = try await fetch("/")
        XCTAssertEqual(status, 200)
        let html = String(decoding: page, as: UTF8.self)
        XCTAssertTrue(html.contains("id=\"next-table\"") && html.contains("/api/steer/stream"), "the page and its script")
        XCTAssertFalse(html.contains("http://") || html.contains("https://"), "no network: every asset is inline")
        let spec = try await call("/openapi.json")
        XCTAssertEqual(spec.json["openapi"] as? String, "3.1.0")
        let paths = Set((spec.json["paths"] as! [String: Any]).keys)
        XCTAssertEqual(paths, ["/api/info", "/api/scan", "/api/next", "/api/lens", "/api/attention", "/api/features", "/api/feature",
                               "/api/neurons", "/api/neuron", "/api/steer", "/api/steer/stream", "/api/generate", "/api/attribute", "/api/patch", "/api/graph", "/api/graph/stream",
                               "/api/transcoder-feature", "/api/patch/sweep", "/api/patch/sweep/stream", "/api/feature/search"])
        XCTAssertTrue(html.contains("id=\"graph-run\"") && html.contains("id=\"sweep-run\"") && html.contains("id=\"steer-mode\""),
                      "the graph, sweep and clamp controls")
        let info = try await call("/api/info")
        XCTAssertEqual(info.json["layers"] as? Int, 4)
        XCTAssertEqual((info.json["saes"] as! [Any]).count, 1)
    }
}
