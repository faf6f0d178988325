import Foundation
import LanternServer
import XCTest

/// A client that hangs up stops its work: the steering stream ends at its next write, so the
/// queue stops running its forward passes.
final class ServerCancellationTests: ServerTestCase {
    func ran() async throws -> Int {
        ((try await call("/api/info")).json["queue"] as! [String: Any])["ran"] as! Int
    }

    /// A long background scan (4000 contexts, one forward pass per job) does not hold up a `next`
    /// request: its answer comes back while the scan is still running (an order, not a time).
    func testNextIsServedBetweenTheScansPasses() async throws {
        try await startServer(repeatContexts: 1000)
        var during = 0
        for _ in 0..<5 {
            let next = try await call("/api/next", ["token_ids": [2, 5, 9]])
            XCTAssertEqual(next.status, 200)
            let scan = ((try await call("/api/scan")).json["scans"] as! [[String: Any]])[0]
            if scan["state"] as? String == "scanning" { during += 1 }
            XCTAssertEqual(scan["contexts"] as? Int, 4000)
        }
        XCTAssertEqual(during, 5, "every next request was answered while the scan went on")
    }

    func testSteeringStreamStopsWhenTheClientHangsUp() async throws {
        var limits = ServerLimits()
        limits.newTokens = 60
        try await startServer(limits: limits)
        // Let the background scan finish first, so only the stream's passes count.
        for _ in 0..<600 {
            let state = ((try await call("/api/scan")).json["scans"] as! [[String: Any]])[0]["state"] as! String
            if state == "done" { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let before = try await ran()
        // A raw socket: send the request, read the first token event, hang up.
        let body = #"{"token_ids":[2,5],"features":[{"feature":3,"strength":30}],"max_new_tokens":60}"#
        let (fd, received) = try rawPost("/api/steer/stream", body, until: "event: token")
        XCTAssertTrue(received.contains("event: token"), received)
        close(fd)
        // Up to 120 passes (60 tokens × 2 runs) would follow; after the hang-up only the few
        // already under way or written before the server noticed.
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let afterHangUp = try await ran()
        try await Task.sleep(nanoseconds: 500_000_000)
        let later = try await ran()
        XCTAssertLessThan(afterHangUp - before, 60, "the generation went on after the client hung up")
        XCTAssertEqual(later - afterHangUp, 0, "nothing ran since (/api/info does not use the model)")
    }

    /// A request on a socket of its own, read until `marker` appears (or nothing); the socket stays open.
    func rawPost(_ path: String, _ body: String, until marker: String?) throws -> (Int32, String) {
        let request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let fd = connectRaw()
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while let marker, !received.contains(marker) {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            received += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        return (fd, received)
    }

    /// Sliced jobs (graphs, sweeps): running, finished, cancelled.
    func jobs() async throws -> [String: Int] {
        ((try await call("/api/info")).json["jobs"] as? [String: Int]) ?? [:]
    }

    /// Waits (up to a minute) until `condition` holds for the jobs' counts.
    func waitForJobs(_ condition: ([String: Int]) -> Bool) async throws -> [String: Int] {
        for _ in 0..<3000 {
            let counts = try await jobs()
            if condition(counts) { return counts }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return try await jobs()
    }

    /// A long graph: 60 tokens, one target per backward pass (some 1,300 slices on the tiny model).
    static let longGraph = #"{"token_ids":[2,"# + (0..<59).map { String(40 + $0 * 3) }.joined(separator: ",") + #"],"batch_size":1}"#

    func startGraphServer(slicedJobs: Int = 2) async throws {
        var limits = ServerLimits()
        limits.graphTokens = 60
        limits.slicedJobs = slicedJobs
        try await startServer(limits: limits, graphs: true)
    }

    /// `next` is answered between a graph's slices: the graph is still running after it (an order, not a time).
    func testNextIsAnsweredWhileAGraphRuns() async throws {
        try await startGraphServer(slicedJobs: 1)
        let (fd, received) = try rawPost("/api/graph/stream", Self.longGraph, until: "event: progress")
        defer { close(fd) }
        XCTAssertTrue(received.contains("event: progress"), received)
        let next = try await call("/api/next", ["token_ids": [2, 5, 9]])
        XCTAssertEqual(next.status, 200)
        let during = try await jobs()
        XCTAssertEqual(during["running"], 1, "the graph still runs after the next request was answered")
        let second = try await call("/api/graph", ["token_ids": [2, 5]])
        XCTAssertEqual(second.status, 503, "one graph at a time on this server: \(second.json)")
        var tail = received
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !tail.contains("event: done") && !tail.contains("event: error") {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            tail += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        XCTAssertTrue(tail.contains("event: done"), String(tail.suffix(300)))
        let counts = try await waitForJobs { $0["running"] == 0 }
        XCTAssertEqual(counts["finished"], 1)
    }

    func testGraphIsCancelledWhenTheClientHangsUp() async throws {
        try await startGraphServer()
        // The stream: hang up after the first progress event; the graph stops at a later slice.
        let (fd, received) = try rawPost("/api/graph/stream", Self.longGraph, until: "event: progress")
        XCTAssertTrue(received.contains("event: progress"), received)
        close(fd)
        var counts = try await waitForJobs { $0["running"] == 0 }
        XCTAssertEqual(counts["cancelled"], 1, "\(counts)")
        XCTAssertEqual(counts["finished"], 0, "the graph was not finished after the hang-up")
        // The plain request: hang up while it runs (the server watches the connection).
        let (plain, _) = try rawPost("/api/graph", Self.longGraph, until: nil)
        counts = try await waitForJobs { $0["running"] == 1 }
        XCTAssertEqual(counts["running"], 1)
        close(plain)
        counts = try await waitForJobs { $0["running"] == 0 }
        XCTAssertEqual(counts["cancelled"], 2, "\(counts)")
        XCTAssertEqual(counts["finished"], 0)
    }
}
