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

    /// Runs the binary with `environment` added to this process's.
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
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

    /// `auto` without a GPU runs on the CPU: silently (no GPU is the normal case on a CPU node),
    /// and with --verbose the reason in one line. Checked twice: with no Vulkan loader at all
    /// (forced, so the notice's text is known on every machine), and on this machine as it is,
    /// where whatever `lantern devices` says `auto` picks is what `generate` does and says.
    func testAutoBackendFallsBackWithNotice() throws {
        let generate = ["generate", "--model", Self.fixtures.appendingPathComponent("llama_tiny").path, "--token-ids", "1,5",
                        "--max-new-tokens", "1"]
        func lines(_ text: String) -> [Substring] { text.split(separator: "\n", omittingEmptySubsequences: true) }

        // No loader: the fallback every machine can be put in.
        let noLoader = ["LANTERN_VULKAN_LOADER": "/nonexistent/libvulkan.so.1"]
        let notice = "using the CPU backend: vulkan: no Vulkan loader: cannot open /nonexistent/libvulkan.so.1"
        let quiet = try run(generate, environment: noLoader)
        XCTAssertEqual(quiet.status, 0, quiet.err)
        XCTAssertTrue(quiet.out.contains("new:"), quiet.out)
        XCTAssertEqual(quiet.err, "", "no GPU is not news without --verbose")
        let verbose = try run(generate + ["--verbose"], environment: noLoader)
        XCTAssertEqual(verbose.status, 0, verbose.err)
        XCTAssertEqual(lines(verbose.err), [Substring(notice)])
        let listing = try run(["devices", "--json"], environment: noLoader)
        XCTAssertEqual(listing.status, 0, listing.err)
        let none = try JSONSerialization.jsonObject(with: Data(listing.out.utf8)) as? [String: Any]
        XCTAssertEqual(none?["auto"] as? String, "cpu", listing.out)
        XCTAssertEqual(none?["devices"] as? [String], [], listing.out)

        // This machine: `devices --json` says what `auto` takes and why; `generate` agrees.
        let devices = try run(["devices", "--json"])
        XCTAssertEqual(devices.status, 0, devices.err)
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(devices.out.utf8)) as? [String: Any], devices.out)
        let auto = try XCTUnwrap(info["auto"] as? String, devices.out)
        let here = try run(generate), hereVerbose = try run(generate + ["--verbose"])
        XCTAssertEqual(here.status, 0, here.err)
        XCTAssertEqual(hereVerbose.status, 0, hereVerbose.err)
        if auto.hasPrefix("vulkan") {
            // A GPU: auto takes it without a word; --verbose names it.
            XCTAssertNil(info["auto_reason"] as? String, devices.out)
            XCTAssertEqual(here.err, "", "auto took the GPU: \(devices.out)")
            XCTAssertEqual(lines(hereVerbose.err), [Substring("using the \(auto) backend")], devices.out)
            return
        }
        XCTAssertTrue(auto.hasPrefix("cpu"), devices.out)
        // The CPU, and --verbose says why in one line: auto's own notice, or (no loader or driver,
        // so no device list) the loader's error.
        let said = lines(hereVerbose.err)
        XCTAssertEqual(said.count, 1, hereVerbose.err)
        let reason = String(said.first ?? "")
        if let notice = info["auto_reason"] as? String {
            XCTAssertEqual(reason, notice, devices.out)
        } else {
            let error = try XCTUnwrap(info["error"] as? String, "auto took the CPU without a reason: \(devices.out)")
            XCTAssertTrue(reason.hasPrefix("using the CPU backend: vulkan: "), reason)
            XCTAssertTrue(error.hasSuffix(reason.dropFirst("using the CPU backend: ".count)), "\(reason) vs \(error)")
        }
        // No GPU at all is said only with --verbose; a GPU that is there but failed, always.
        let noGPU = ["no Vulkan loader", "no Vulkan driver", "no Vulkan device", "no GPU: only CPU-type"].contains { reason.contains($0) }
        XCTAssertEqual(here.err, noGPU ? "" : reason + "\n", "auto's reason: \(reason)")
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
