import Foundation
import XCTest

/// `lantern trace --grad-target --grad-baseline`: gradients written beside the activations, equal
/// to torch's (the goldens of tools/make_gradient_goldens.py), and a clear line for half a metric.
final class GradientCLITests: XCTestCase {
    /// Runs the built binary (as CLITests.run does).
    func run(_ arguments: [String]) throws -> (status: Int32, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = arguments
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    /// The f32 tensors of a safetensors file, by name.
    func tensors(_ path: String) throws -> [String: [Float]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        var out: [String: [Float]] = [:]
        for (name, entry) in header where name != "__metadata__" {
            let offsets = (entry as! [String: Any])["data_offsets"] as! [Int]
            let bytes = data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
            out[name] = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        return out
    }

    func testTraceWritesGradientsThatMatchTorch() throws {
        let goldens = CLITests.fixtures.appendingPathComponent("gradients")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens.appendingPathComponent("gemma2_tiny.json"))) as! [String: Any]
        let tokens = (meta["tokens"] as! [Int]).map(String.init).joined(separator: ",")
        let last = (meta["metrics"] as! [String: [String: Any]])["last"]!
        let out = NSTemporaryDirectory() + "grad-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try run(["trace", "--model", CLITests.fixtures.appendingPathComponent("gemma2_tiny").path, "--token-ids", tokens,
                             "--grad-target", "\(last["target"] as! Int)", "--grad-baseline", "\(last["baseline"] as! Int)",
                             "--hooks", "blocks.1.*", "hook_embed", "--out", out])
        XCTAssertEqual(r.status, 0, r.err)
        let written = try tensors(out), golden = try tensors(goldens.appendingPathComponent("gemma2_tiny.safetensors").path)
        XCTAssertNotNil(written["logits"])
        XCTAssertNotNil(written["blocks.1.hook_resid_mid"], "activations beside the gradients")
        let gradients = written.keys.filter { $0.hasPrefix("grad:") }
        XCTAssertEqual(gradients.count, 18, "hook_embed and 17 hooks of block 1 (no pattern): \(gradients.sorted())")
        for name in gradients where name != "grad:blocks.1.attn.hook_result" {   // torch has no per-head outputs
            let hook = String(name.dropFirst("grad:".count))
            let a = written[name]!, b = golden["last:\(hook)"]!
            let diff = zip(a, b).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            let norm = b.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            XCTAssertLessThanOrEqual(diff / norm, 1e-4, hook)
        }
    }

    func testHalfAGradientMetricIsRefused() throws {
        let r = try run(["trace", "--model", CLITests.fixtures.appendingPathComponent("gemma2_tiny").path, "--token-ids", "2,5",
                                    "--grad-target", "5", "--out", NSTemporaryDirectory() + "never.safetensors"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.err.contains("both --grad-target and --grad-baseline"), r.err)
    }
}
