import Foundation
import LanternCore
import Models
import XCTest

/// Several sequences as one pass on Vulkan (lavapipe here) give each sequence its solo run on the
/// same backend, at every hook point, and the CPU backend's batch within the parity bound.
final class BatchForwardVulkanTests: VulkanTestCase {
    func testBatchEqualsSoloRunsOnVulkan() throws {
        for name in ["gemma2_tiny", "gemma3_tiny", "llama_tiny", "qwen2_tiny", "qwen3_tiny", "mistral_tiny", "olmo2_tiny",
                     "gpt2_tiny", "pythia_tiny"] {
            let dir = ForwardTests.fixtures.appendingPathComponent(name)
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("reference.json"))) as! [String: Any]
            let fixture = (meta["sequences"] as! [[Int]]).map { $0.map(Int32.init) }
            let sequences = fixture + [Array(fixture[0].prefix(3)), [fixture[1][0]]]
            let model = try Transformer(directory: dir.path, backend: gpu)
            let cpuModel = try Transformer(directory: dir.path, backend: cpu)
            let hooks = sequences.map { _ in Hooks(capture: .all) }
            let batched = try model.forward(batch: sequences, hooks: hooks)
            let cpuBatched = try cpuModel.forward(batch: sequences)
            var worst: Float = 0
            for (i, tokens) in sequences.enumerated() {
                let solo = Hooks(capture: .all)
                let soloLogits = try gpu.read(try XCTUnwrap(try model.forward(tokens, hooks: solo)))
                let logits = try gpu.read(try XCTUnwrap(batched[i]))
                worst = max(worst, Self.relativeError(logits, soloLogits))
                XCTAssertLessThanOrEqual(Self.relativeError(logits, try cpu.read(try XCTUnwrap(cpuBatched[i]))), 1e-4, "\(name) \(i) vs CPU")
                XCTAssertEqual(hooks[i].captured.map(\.name), solo.captured.map(\.name))
                for (a, s) in zip(hooks[i].captured, solo.captured) {
                    let err = Self.relativeError(try gpu.read(a.tensor), try gpu.read(s.tensor))
                    XCTAssertLessThanOrEqual(err, 3e-6, "\(name) sequence \(i) \(a.name)")
                    worst = max(worst, err)
                }
            }
            print("\(name) on \(gpu.name): batch of \(sequences.count), worst relative difference from solo runs \(worst)")
        }
    }
}
