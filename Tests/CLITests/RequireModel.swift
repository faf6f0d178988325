import Foundation
import XCTest

// The one gate for tests that need what the repository does not hold (a cached real model). The
// same functions sit in ModelsTests, TokenizersTests, InterpretabilityTests and VulkanBackendTests
// (RequireModel.swift, identical there); this target cannot import Models, so its `requireModel`
// asks the `lantern` binary under test which models are cached. Edit the copies together.
// docs/test-skips.md lists every skip.

/// The error a required-but-missing resource ends a test with, after the failure is recorded.
struct RequiredResourceMissing: Error, CustomStringConvertible {
    var description: String
}

/// Whether `variable` asks for the resources it names: set, and neither empty nor "0".
func isRequired(_ variable: String) -> Bool {
    guard let value = ProcessInfo.processInfo.environment[variable] else { return false }
    return !value.isEmpty && value != "0"
}

/// What a test throws when something it needs is missing: `message` says what, `fix` how to get
/// it. With `variable` set (CI sets LANTERN_REQUIRE_MODELS=1 after fetching the models) the test
/// fails at the caller's line; otherwise it is skipped, and the reason is in the log.
func missingResource(_ message: String, fix: String, requiredBy variable: String = "LANTERN_REQUIRE_MODELS",
                     file: StaticString = #filePath, line: UInt = #line) -> any Error {
    let text = "\(message) (\(fix))"
    if isRequired(variable) {
        XCTFail("\(variable) is set: \(text)", file: file, line: line)
        return RequiredResourceMissing(description: "\(variable) is set: \(text)")
    }
    print("SKIP: \(text)")
    return XCTSkip(text, file: file, line: line)
}

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
