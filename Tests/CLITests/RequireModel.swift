import Foundation
import TestSupport
import XCTest

// CLITests cannot import Models (it tests the binary): which models are cached, it asks the
// `lantern` binary under test. The gate itself is TestSupport's.

extension CLITests {
    /// The path of the cached real model `name` as `lantern models --json` reports it, or a skip
    /// (a failure under LANTERN_REQUIRE_MODELS) that says how to fetch it.
    func requireModel(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try run(["models", "--json"])
        XCTAssertEqual(r.status, 0, r.err, file: file, line: line)
        let listing = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        let cached = listing?["cached"] as? [[String: Any]] ?? []
        if let path = cached.first(where: { $0["name"] as? String == name })?["path"] as? String { return path }
        throw missingResource("model '\(name)' is not cached (lantern models: \(r.out.trimmingCharacters(in: .whitespacesAndNewlines)))",
                              fix: "lantern models --fetch \(name)", file: file, line: line)
    }
}
