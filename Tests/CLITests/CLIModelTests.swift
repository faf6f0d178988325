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

    /// `trace --list-hooks` lists each family's own hook points: OLMo 2 has no ln1/ln2 and, with
    /// Qwen 3, hook_q_normed/hook_k_normed; Qwen 2 neither. A hook the family lacks is one line.
    func testListHooksFollowsTheFamily() throws {
        func hooks(_ fixture: String) throws -> [String] {
            let r = try run(["trace", "--model", CLITests.fixtures.appendingPathComponent(fixture).path, "--list-hooks"], home: home)
            XCTAssertEqual(r.status, 0, r.err)
            return r.out.split(separator: "\n").map(String.init)
        }
        let olmo2 = try hooks("olmo2_tiny"), qwen3 = try hooks("qwen3_tiny"), qwen2 = try hooks("qwen2_tiny")
        XCTAssertTrue(olmo2.contains("blocks.2.attn.hook_k_normed") && !olmo2.contains { $0.contains(".ln1.") || $0.contains(".ln2.") })
        XCTAssertTrue(qwen3.contains("blocks.0.attn.hook_q_normed") && qwen3.contains("blocks.0.ln2.hook_normalized"))
        XCTAssertFalse(qwen2.contains { $0.hasSuffix("_normed") })
        XCTAssertEqual(olmo2.count, 3 + 3 * 19)
        // GPT-2: learned positions (hook_pos_embed, no rot_q/rot_k), an ungated MLP; Pythia: parallel
        // blocks (no hook_resid_mid), partial rotary.
        let gpt2 = try hooks("gpt2_tiny"), pythia = try hooks("pythia_tiny")
        XCTAssertEqual(Array(gpt2.prefix(2)), ["hook_embed", "hook_pos_embed"])
        XCTAssertTrue(gpt2.contains("blocks.1.hook_resid_mid") && gpt2.contains("blocks.0.ln1.hook_scale"))
        XCTAssertFalse(gpt2.contains { $0.hasSuffix("hook_rot_q") || $0.hasSuffix("hook_pre_linear") })
        XCTAssertTrue(pythia.contains("blocks.2.attn.hook_rot_k") && !pythia.contains { $0.hasSuffix("hook_resid_mid") })
        XCTAssertEqual([gpt2.count, pythia.count], [4 + 3 * 18, 3 + 3 * 19])
        let r = try run(["trace", "--model", CLITests.fixtures.appendingPathComponent("olmo2_tiny").path, "--token-ids", "1,5",
                         "--hooks", "blocks.0.ln1.hook_normalized", "--out", NSTemporaryDirectory() + "never.safetensors"], home: home)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("'blocks.0.ln1.hook_normalized' matches no hook of this model"), r.err)
        XCTAssertEqual(r.err.filter { $0 == "\n" }.count, 1, "one line: \(r.err)")
    }
}
