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
        try startServer(repeatContexts: 1000)
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
        try startServer(limits: limits)
        // Let the background scan finish first, so only the stream's passes count.
        for _ in 0..<600 {
            let state = ((try await call("/api/scan")).json["scans"] as! [[String: Any]])[0]["state"] as! String
            if state == "done" { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let before = try await ran()
        // A raw socket: send the request, read the first token event, hang up.
        let body = #"{"token_ids":[2,5],"features":[{"feature":3,"strength":30}],"max_new_tokens":60}"#
        let request = "POST /api/steer/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(base.port!).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(connected, 0)
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.contains("event: token") {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            received += String(decoding: buffer[0..<n], as: UTF8.self)
        }
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
}
