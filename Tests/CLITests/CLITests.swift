import Foundation
import XCTest

/// The `lantern` binary as a user runs it: exit codes and one-line errors.
final class CLITests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// The binary sits beside the test bundle in the build directory.
    static var binary: String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.path.hasSuffix(".xctest/Contents/MacOS") { dir = dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
        return dir.appendingPathComponent("lantern").path
    }

    func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testTraceWritesRequestedHooks() throws {
        let out = NSTemporaryDirectory() + "trace-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try run(["trace", "--model", Self.fixtures.appendingPathComponent("gemma2_tiny").path, "--token-ids", "2,5,9,11",
                         "--hooks", "blocks.*.hook_resid_post", "blocks.1.attn.hook_pattern", "--out", out])
        XCTAssertEqual(r.status, 0, r.err)
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        XCTAssertEqual(Set(header.keys), Set(["__metadata__", "logits", "blocks.1.attn.hook_pattern"])
            .union((0..<4).map { "blocks.\($0).hook_resid_post" }))
        XCTAssertEqual((header["blocks.1.attn.hook_pattern"] as! [String: Any])["shape"] as! [Int], [4, 4, 4])
        XCTAssertEqual((header["logits"] as! [String: Any])["shape"] as! [Int], [4, 256])
    }

    func testGenerateJSON() throws {
        let r = try run(["generate", "--model", Self.fixtures.appendingPathComponent("llama_tiny").path, "--token-ids", "1,173,54",
                         "--max-new-tokens", "5", "--json"])
        XCTAssertEqual(r.status, 0, r.err)
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(json["ids"] as! [Int], [1, 173, 54])
        XCTAssertEqual((json["new_ids"] as! [Int]).count, 5)
    }

    /// `auto` on a machine without a GPU runs on the CPU and says why in one line.
    func testAutoBackendFallsBackWithNotice() throws {
        let r = try run(["generate", "--model", Self.fixtures.appendingPathComponent("llama_tiny").path, "--token-ids", "1,5",
                         "--max-new-tokens", "1"])
        XCTAssertEqual(r.status, 0, r.err)
        if !r.err.isEmpty {
            XCTAssertTrue(r.err.hasPrefix("using the CPU backend: "), r.err)
            XCTAssertEqual(r.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1)
        }
    }

    func testBadInputFailsWithOneLine() throws {
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let cases: [([String], String)] = [
            (["generate", "--model", model, "--token-ids", "2,256"], "token id 256 is out of range"),
            (["generate", "--model", "/nonexistent", "--token-ids", "2"], "--model /nonexistent: no such model directory or .gguf file"),
            (["generate", "--model", model, "--token-ids", "2,x"], "--token-ids must be comma-separated integers"),
            (["generate", "--model", model, "--token-ids", "2", "--max-new-tokens", "100"], "exceeds the model's context of 64"),
            (["trace", "--model", model, "--token-ids", "2", "--hooks", "blocks.9.*", "--out", "/tmp/x.safetensors"], "matches no hook"),
        ]
        for (arguments, expected) in cases {
            let r = try run(arguments + ["--backend", "cpu"])
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.err.contains(expected), "\(arguments): '\(r.err)' lacks '\(expected)'")
            XCTAssertEqual(r.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, "one line: \(r.err)")
        }
    }
}
