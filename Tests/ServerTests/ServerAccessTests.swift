import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LanternServer
import XCTest

/// What a web page the user visits cannot do to a local server: requests addressed to another
/// host name (DNS rebinding), from another origin, or with a body a page can send without a
/// preflight are refused before any job starts, each with the API's one-line JSON error.
final class ServerAccessTests: ServerTestCase {
    /// One raw HTTP/1.1 request with exactly these header lines; the status and the body.
    func raw(_ method: String, _ path: String, headers: [String], body: String = "") throws -> (status: Int, body: String) {
        let fd = connectRaw()
        defer { close(fd) }
        let request = "\(method) \(path) HTTP/1.1\r\n" + headers.map { $0 + "\r\n" }.joined() + "Connection: close\r\n\r\n" + body
        return exchange(fd, Array(request.utf8))
    }

    func error(_ body: String) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["error"] as? String ?? "(not JSON: \(body.prefix(200)))"
    }

    func testForeignHostsOriginsAndBodyTypesAreRefused() async throws {
        try await startServer()
        let port = base.port!
        let json = "Content-Type: application/json"
        let next = #"{"token_ids":[2,5,9]}"#
        func length(_ body: String) -> String { "Content-Length: \(body.utf8.count)" }

        // Addressed to this machine, as a browser on the same machine or curl addresses it: served.
        for host in ["127.0.0.1:\(port)", "localhost:\(port)", "127.0.0.1"] {
            let ok = try raw("POST", "/api/next", headers: ["Host: \(host)", json, length(next)], body: next)
            XCTAssertEqual(ok.status, 200, "\(host): \(ok.body.prefix(200))")
        }
        // The background scan runs jobs too: let it finish, so only these requests could count.
        for _ in 0..<600 {
            let state = ((try await call("/api/scan")).json["scans"] as! [[String: Any]])[0]["state"] as! String
            if state == "done" { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let sameOrigin = try raw("POST", "/api/next", headers: ["Host: 127.0.0.1:\(port)", "Origin: http://127.0.0.1:\(port)", json, length(next)], body: next)
        XCTAssertEqual(sameOrigin.status, 200, sameOrigin.body)
        let before = try await call("/api/info").json["queue"] as! [String: Int]

        // DNS rebinding: the page's own name in Host. Reading /api/info is refused too.
        let rebound = try raw("GET", "/api/info", headers: ["Host: attacker.example:\(port)"])
        XCTAssertEqual(rebound.status, 403)
        XCTAssertTrue(error(rebound.body).contains("Host 'attacker.example:\(port)' is not this machine's loopback"), rebound.body)
        // A page elsewhere POSTing blind, as JSON or as a "simple" text/plain or form body.
        let foreign = try raw("POST", "/api/next", headers: ["Host: 127.0.0.1:\(port)", "Origin: https://evil.example", json, length(next)], body: next)
        XCTAssertEqual(foreign.status, 403)
        XCTAssertTrue(error(foreign.body).contains("cross-origin request refused"), foreign.body)
        for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let simple = try raw("POST", "/api/next", headers: ["Host: 127.0.0.1:\(port)", "Content-Type: \(type)", length(next)], body: next)
            XCTAssertEqual(simple.status, 415, type)
            XCTAssertTrue(error(simple.body).contains("Content-Type: application/json"), simple.body)
        }
        let untyped = try raw("POST", "/api/next", headers: ["Host: 127.0.0.1:\(port)", length(next)], body: next)
        XCTAssertEqual(untyped.status, 415)
        // A declared length over the limit is refused before the body is sent.
        let huge = try raw("POST", "/api/next", headers: ["Host: 127.0.0.1:\(port)", json, "Content-Length: 100000000"])
        XCTAssertEqual(huge.status, 413)
        XCTAssertTrue(error(huge.body).contains("Content-Length 100000000"), huge.body)

        let after = try await call("/api/info").json["queue"] as! [String: Int]
        XCTAssertEqual(after["ran"], before["ran"], "no refused request reached the model")

        // Booleans are not token ids (read on the model's queue, so after the count).
        let bools = #"{"token_ids":[true,false]}"#
        let booleans = try raw("POST", "/api/next", headers: ["Host: 127.0.0.1:\(port)", json, length(bools)], body: bools)
        XCTAssertEqual(booleans.status, 400)
        XCTAssertTrue(error(booleans.body).contains("'token_ids' must be a list of integers"), booleans.body)
    }

    /// Sends `bytes` as they are (no request framing added) and reads until the server closes.
    func exchange(_ fd: Int32, _ bytes: [UInt8]) -> (status: Int, body: String) {
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        #if os(Linux)
        let flags = Int32(MSG_NOSIGNAL)   // the server may close before the last bytes: no SIGPIPE
        #else
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size))
        let flags: Int32 = 0
        #endif
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, flags) }
            guard n > 0 else { break }
            sent += n
        }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            received += buffer[0..<n]
        }
        let text = String(decoding: received, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? "")
    }

    /// What the HTTP parser refuses gets the API's JSON error like every other refusal.
    func testParserErrorsAreJSON() async throws {
        try await startServer()
        let big = "GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n"
        let fd = connectRaw()
        let tooLarge = exchange(fd, Array(big.utf8))
        close(fd)
        XCTAssertEqual(tooLarge.status, 431, tooLarge.body)
        XCTAssertTrue(error(tooLarge.body).contains("header fields are larger than the server accepts"), tooLarge.body)
        for garbage in ["HELLO THERE\r\n\r\n", "GET / HTTP/9.9 x\r\n\r\n", "\u{1}\u{2}\u{3}\r\n\r\n"] {
            let fd = connectRaw()
            let bad = exchange(fd, Array(garbage.utf8))
            close(fd)
            XCTAssertEqual(bad.status, 400, "\(garbage.debugDescription): \(bad.body)")
            XCTAssertTrue(error(bad.body).contains("not valid HTTP/1.1"), bad.body)
        }
        // The server still serves.
        let fine = try raw("GET", "/api/info", headers: ["Host: 127.0.0.1"])
        XCTAssertEqual(fine.status, 200)
    }

    /// Past the connection cap a client is told 503 at once (not left waiting in the backlog);
    /// once a connection closes, the next one is served.
    func testConnectionsPastTheCapGetA503() async throws {
        var limits = ServerLimits()
        limits.connections = 3
        try await startServer(limits: limits)
        let held = (0..<3).map { _ in connectRaw() }
        // Each held connection is accepted before the next test connection is made.
        try await Task.sleep(nanoseconds: 500_000_000)
        let fd = connectRaw()
        let refused = exchange(fd, Array("GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
        close(fd)
        XCTAssertEqual(refused.status, 503, refused.body)
        XCTAssertTrue(error(refused.body).contains("3 connections open, its limit"), refused.body)
        for fd in held { close(fd) }
        var served = (status: 0, body: "")
        for _ in 0..<50 where served.status != 200 {
            try await Task.sleep(nanoseconds: 100_000_000)
            served = try raw("GET", "/api/info", headers: ["Host: 127.0.0.1"])
        }
        XCTAssertEqual(served.status, 200, served.body)
    }
}
