import CPUBackend
import Foundation
import Interpretability
import LanternCore
import Models
import VulkanBackend
import XCTest

/// The lens's row reductions on the device (`logitSummaries`) against the host's, and the whole
/// logit lens on Vulkan against the CPU backend's, with only the summaries read back.
final class LensOnDeviceTests: VulkanTestCase {
    func testSummariesMatchTheHostsWithTies() throws {
        let (rows, vocab) = (5, 1000)
        var logits = Self.random(rows * vocab, seed: 21, scale: 8)
        for r in 0..<rows { logits[r * vocab + 17] = 9; logits[r * vocab + 400] = 9; logits[r * vocab + 999] = 9 }  // a tie at the top
        let tokens: [Int32] = [400, 3, 999]
        let before = gpu.traffic
        let got = try gpu.logitSummaries(try gpu.tensor(logits, shape: [rows, vocab]), topK: 6, tokens: tokens)
        let traffic = gpu.traffic - before
        let want = try cpu.logitSummaries(try cpu.tensor(logits, shape: [rows, vocab]), topK: 6, tokens: tokens)
        XCTAssertEqual(got.count, rows)
        for (g, w) in zip(got, want) {
            XCTAssertEqual(g.top.map(\.token), w.top.map(\.token), "top-k order, ties to the lower token")
            XCTAssertEqual(g.top.map(\.token).prefix(3), [17, 400, 999])
            XCTAssertEqual(g.tokens.map(\.rank), w.tokens.map(\.rank))
            XCTAssertEqual(g.statistics.max, w.statistics.max)
            XCTAssertEqual(g.statistics.sumExp, w.statistics.sumExp, accuracy: 1e-5 * w.statistics.sumExp)
            XCTAssertEqual(g.statistics.entropy, w.statistics.entropy, accuracy: 1e-5)
        }
        XCTAssertEqual(traffic.bytesFromDevice, rows * (3 + 2 * 6 + 2 * tokens.count) * 4, "only the summaries come back")
        XCTAssertThrowsError(try gpu.logitSummaries(try gpu.tensor(logits, shape: [rows, vocab]), topK: 2, tokens: [1000]))
    }

    func testTheLogitLensOnVulkanIsTheCPUBackends() throws {
        for name in ["gemma2_tiny", "gemma3_tiny", "llama_tiny"] {
            let dir = ForwardTests.fixtures.appendingPathComponent(name).path
            let tokens: [Int32] = [2, 40, 17, 99, 5]
            for target in [Int32?.none, 11] {
                let a = try LogitLens.run(try Transformer(directory: dir, backend: gpu), tokens: tokens, topK: 5, target: target)
                let b = try LogitLens.run(try Transformer(directory: dir, backend: cpu), tokens: tokens, topK: 5, target: target)
                XCTAssertEqual(a.answer.token, b.answer.token, name)
                XCTAssertEqual(a.answer.ranks, b.answer.ranks, name)
                for (x, y) in zip(a.answer.probabilities, b.answer.probabilities) { XCTAssertEqual(x, y, accuracy: 1e-5, name) }
                for (rowA, rowB) in zip(a.cells, b.cells) {
                    for (ca, cb) in zip(rowA, rowB) {
                        XCTAssertEqual(ca.top.map(\.token), cb.top.map(\.token), name)
                        for (pa, pb) in zip(ca.top, cb.top) { XCTAssertEqual(pa.probability, pb.probability, accuracy: 1e-5, name) }
                        XCTAssertEqual(ca.entropy, cb.entropy, accuracy: 1e-4, name)
                        XCTAssertEqual(ca.targetRank, cb.targetRank, name)
                    }
                }
            }
        }
    }

    /// The lens's residuals are stacked on the device: the only bytes moved are token ids going up
    /// and row summaries coming back, not the residual stream.
    func testTheLensMovesSummariesNotResiduals() throws {
        let dir = ForwardTests.fixtures.appendingPathComponent("gemma3_tiny").path
        let model = try Transformer(directory: dir, backend: gpu)
        let tokens: [Int32] = [2, 40, 17, 99, 5, 61, 8, 23]
        _ = try LogitLens.run(model, tokens: tokens, topK: 5, target: 11)
        let before = gpu.traffic
        _ = try LogitLens.run(model, tokens: tokens, topK: 5, target: 11)
        let traffic = gpu.traffic - before
        let c = model.config, rows = (c.layerCount + 1) * tokens.count
        let residualBytes = rows * c.hiddenSize * 4
        let summaryBytes = rows * (3 + 2 * 5 + 2) * 4
        XCTAssertLessThanOrEqual(traffic.bytesFromDevice, summaryBytes, traffic.summary)
        XCTAssertLessThan(traffic.bytesToDevice, residualBytes / 4, traffic.summary)
    }
}
