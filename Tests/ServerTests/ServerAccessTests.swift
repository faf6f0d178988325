import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// What a web page the user visits cannot do to a local server: requests addressed to another
/// host name (DNS rebinding), from another origin, or with a body a page can send without a
/// preflight are refused before any job starts, each with the API's one-line JSON error.
final class ServerAccessTests: ServerTestCase {
    /// One raw HTTP/1.1 request with exactly these header lines; the status and the body.
    func raw(_ method: String, _ path: String, headers: [String], body: String = "") throws -> (status: Int, body: String) {
        let fd = connectRaw()
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = "\(method) \(path) HTTP/1.1\r\n" + headers.map { $0 + "\r\n" }.joined() + "Connection: close\r\n\r\n" + body
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            received += buffer[0..<n]
        }
        let text = String(decoding: received, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let payload = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, payload)
    }

    func error(_ body: String) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["error"] as? String ?? "(not JSON: \(body.prefix(200)))"
    }

    func testForeignHostsOriginsAndBodyTypesAreRefused() async throws {
        try startServer()
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
}
