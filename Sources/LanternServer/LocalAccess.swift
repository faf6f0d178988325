import Foundation
import Hummingbird

/// A server on 127.0.0.1 is still reachable from every web page the user opens: a page on any site
/// can POST to it blind (a "simple" request needs no preflight), and through DNS rebinding (a name
/// that resolves to 127.0.0.1 after the page loaded) it can read the answers too. So, before any
/// route runs:
/// - the `Host` header must name this machine's loopback (`localhost`, `127.x.x.x`, `[::1]`), the
///   `--host` address itself, or a name given with `--allow-host` (a rebinding page sends its own
///   name);
/// - an `Origin` header, when a browser sends one, must be this server's own origin
///   (`http://` + the Host), so a page elsewhere cannot start a job;
/// - a POST must say `Content-Type: application/json`: a form or `text/plain` body, the types a
///   page may send without a preflight, is refused;
/// - a `Content-Length` over the body limit is refused before the body is read.
/// Each refusal is the API's one-line JSON error.
struct LocalAccessMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Host names (lowercased, without port) that are accepted besides loopback.
    let allowedHosts: Set<String>
    let bodyLimit: Int

    init(host: String, allowedHosts: [String], bodyLimit: Int) {
        var hosts = Set(allowedHosts.map { $0.lowercased() })
        // The address the server was told to bind (unless it is a wildcard, which names no host).
        if !["0.0.0.0", "::", "[::]", ""].contains(host) { hosts.insert(Self.bracketed(host.lowercased())) }
        self.allowedHosts = hosts
        self.bodyLimit = bodyLimit
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let authority = request.head.authority {
            let name = Self.hostName(authority)
            guard Self.isLoopback(name) || allowedHosts.contains(name) else {
                throw APIError(.forbidden, "Host '\(authority)' is not this machine's loopback: this server answers only requests "
                               + "addressed to localhost or 127.0.0.1 (start it with --allow-host \(name) to accept that name)")
            }
            if let origin = request.headers[.origin], origin.lowercased() != "http://" + authority.lowercased() {
                throw APIError(.forbidden, "cross-origin request refused: Origin '\(origin)' is not this server (http://\(authority))")
            }
        } else if let origin = request.headers[.origin] {
            throw APIError(.forbidden, "cross-origin request refused: Origin '\(origin)' without a Host header")
        }
        if request.method == .post {
            let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard type == "application/json" else {
                throw APIError(.unsupportedMediaType, "POST bodies are JSON: send 'Content-Type: application/json' (got \(type.map { "'\($0)'" } ?? "none"))")
            }
            if let length = request.headers[.contentLength], let bytes = Int(length), bytes > bodyLimit {
                throw APIError(.contentTooLarge, "the request body is larger than \(bodyLimit) bytes (Content-Length \(bytes))")
            }
        }
        return try await next(request, context)
    }

    /// The host part of an authority ("127.0.0.1:8080" → "127.0.0.1", "[::1]:80" → "[::1]"), lowercased.
    static func hostName(_ authority: String) -> String {
        let lower = authority.lowercased()
        if lower.hasPrefix("["), let close = lower.firstIndex(of: "]") { return String(lower[...close]) }
        if let colon = lower.lastIndex(of: ":") { return String(lower[..<colon]) }
        return lower
    }

    static func bracketed(_ host: String) -> String { host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host }

    static func isLoopback(_ name: String) -> Bool {
        if name == "localhost" || name == "[::1]" { return true }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
