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
        // The pattern the glob names is written too (it has no gradient), equal to the model's.
        let pattern = try XCTUnwrap(written["blocks.1.attn.hook_pattern"], "blocks.1.* names the pattern")
        XCTAssertNil(written["grad:blocks.1.attn.hook_pattern"])
        let fixture = CLITests.fixtures.appendingPathComponent("gemma2_tiny")
        let sequences = (try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.appendingPathComponent("reference.json")))
                         as! [String: Any])["sequences"] as! [[Int]]
        let index = try XCTUnwrap(sequences.firstIndex(of: meta["tokens"] as! [Int]), "the goldens' prompt is a fixture sequence")
        let expected = try XCTUnwrap(try tensors(fixture.appendingPathComponent("reference.safetensors").path)["\(index):blocks.1.attn.hook_pattern"])
        XCTAssertEqual(pattern.count, expected.count)
        XCTAssertLessThanOrEqual(zip(pattern, expected).map { abs($0 - $1) }.max() ?? 1, 1e-5, "transformers' pattern")
    }

    /// Only patterns asked for, with gradients: the patterns are written, not dropped in silence.
    func testGradientTraceKeepsNamedPatterns() throws {
        let out = NSTemporaryDirectory() + "grad-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try run(["trace", "--model", CLITests.fixtures.appendingPathComponent("gemma2_tiny").path, "--token-ids", "2,173,54,249",
                         "--grad-target", "5", "--grad-baseline", "6", "--hooks", "blocks.*.attn.hook_pattern", "--out", out])
        XCTAssertEqual(r.status, 0, r.err)
        let written = try tensors(out)
        XCTAssertEqual(Set(written.keys), Set(["logits"] + (0..<4).map { "blocks.\($0).attn.hook_pattern" }))
        for (name, values) in written where name != "logits" {
            XCTAssertEqual(values.count, 4 * 4 * 4, "\(name): [heads, n, n]")
            for row in stride(from: 0, to: values.count, by: 4) {   // each query's probabilities sum to 1
                XCTAssertEqual(values[row..<(row + 4)].reduce(0, +), 1, accuracy: 1e-5, name)
            }
        }
    }

    func testHalfAGradientMetricIsRefused() throws {
        let r = try run(["trace", "--model", CLITests.fixtures.appendingPathComponent("gemma2_tiny").path, "--token-ids", "2,5",
                                    "--grad-target", "5", "--out", NSTemporaryDirectory() + "never.safetensors"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.err.contains("both --grad-target and --grad-baseline"), r.err)
    }
}
