import Foundation
import XCTest

/// `--model` as a .gguf path or a cache name, and `lantern models`.
final class CLIModelTests: XCTestCase {
    private func run(_ arguments: [String], home: String) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(["LANTERN_HOME": home]) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    private let home = NSTemporaryDirectory() + "lantern-cli-home-\(getpid())"

    func testGGUFPathAndModelsListing() throws {
        let gguf = CLITests.fixtures.appendingPathComponent("gguf/tiny-llama.gguf").path
        let r = try run(["generate", "--model", gguf, "--token-ids", "1,17,99", "--max-new-tokens", "3", "--json", "--backend", "cpu"], home: home)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("new_ids"), r.out)

        let list = try run(["models", "--json"], home: home)
        XCTAssertEqual(list.status, 0, list.err)
        XCTAssertTrue(list.out.contains("\"cached\":[]"), list.out)
        XCTAssertTrue(list.out.contains("gemma3-270m"), list.out)

        let bad = try run(["next", "--model", "no-such-model", "--backend", "cpu", "--token-ids", "1"], home: home)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("known: gemma3-270m, smollm2"), bad.err)
        XCTAssertEqual(bad.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, bad.err)
    }
}
