import CPUBackend
import Foundation
import Interpretability
import LanternCore
import Models
import Training
import VulkanBackend
import XCTest

/// The reductions that keep an analysis's bulk on the device, against the host's, and what they
/// read back: per-row target summaries for next-token losses, and SAE latents without their zeros.
final class AnalysesOnDeviceTests: VulkanTestCase {
    func testRowTokenSummariesMatchTheHosts() throws {
        let (rows, vocab) = (6, 700)
        var logits = Self.random(rows * vocab, seed: 31, scale: 6)
        for r in 0..<rows { logits[r * vocab + 5] = 7; logits[r * vocab + 650] = 7 }  // a tie: ranks go to the lower token
        let asked: [Int32] = [5, 650, 0, 699, 650, 321]
        let before = gpu.traffic
        let got = try gpu.logitSummaries(try gpu.tensor(logits, shape: [rows, vocab]), topK: 0, rowTokens: asked)
        let traffic = gpu.traffic - before
        let want = try cpu.logitSummaries(try cpu.tensor(logits, shape: [rows, vocab]), topK: 0, rowTokens: asked)
        XCTAssertEqual(got.count, rows)
        for (r, (g, w)) in zip(got, want).enumerated() {
            XCTAssertEqual(g.tokens.count, 1)
            XCTAssertEqual(g.tokens[0].rank, w.tokens[0].rank, "row \(r)")
            XCTAssertEqual(g.tokens[0].logit, logits[r * vocab + Int(asked[r])], "row \(r): its own token's logit")
            XCTAssertEqual(g.statistics.max, w.statistics.max)
            XCTAssertEqual(g.statistics.sumExp, w.statistics.sumExp, accuracy: 1e-5 * w.statistics.sumExp)
        }
        XCTAssertEqual(want[1].tokens[0].rank, 2, "the tie's second token ranks below the first")
        XCTAssertEqual(traffic.bytesFromDevice, rows * 5 * 4, "three statistics and one (rank, logit) per row come back")
        XCTAssertThrowsError(try gpu.logitSummaries(try gpu.tensor(logits, shape: [rows, vocab]), topK: 0, rowTokens: [1, 2]))
        XCTAssertThrowsError(try cpu.logitSummaries(try cpu.tensor(logits, shape: [rows, vocab]), topK: 0, rowTokens: [Int32](repeating: 700, count: rows)))
    }

    /// Rows from empty to full, compacted on the device; rows that hold more than `expected` are
    /// read whole, and a view at an offset reads from its own rows.
    func testPositiveEntriesMatchTheHostsAndReadOnlyWhatFires() throws {
        let width = 300
        let densities: [Double] = [0, 0.01, 0.02, 0.5, 1, 0.013]
        var rows: [Float] = []
        for (r, density) in densities.enumerated() {
            let noise = Self.random(width, seed: UInt64(40 + r))
            rows += noise.enumerated().map { i, v in Double(i % 100) < density * 100 ? abs(v) + 0.01 : -abs(v) }
        }
        rows[width + 7] = -0.0
        let n = densities.count
        let x = try gpu.tensor(rows, shape: [n, width])
        for expected in [4, width] {
            let before = gpu.traffic
            let got = try gpu.positiveEntries(x, expected: expected)
            let traffic = gpu.traffic - before
            XCTAssertEqual(got, try cpu.positiveEntries(try cpu.tensor(rows, shape: [n, width]), expected: expected), "expected \(expected)")
            XCTAssertEqual(got.dense(), rows.map { $0 > 0 ? $0 : 0 })
            let wide = (0..<n).filter { got.count($0) > expected }.count
            XCTAssertEqual(traffic.bytesFromDevice, n * (1 + 2 * min(expected, width)) * 4 + wide * width * 4,
                           "the compacted rows, and whole only the \(wide) rows above \(expected)")
        }
        XCTAssertEqual(try gpu.positiveEntries(try x.rows(2..<4), expected: 8),
                       try cpu.positiveEntries(try cpu.tensor(Array(rows[(2 * width)..<(4 * width)]), shape: [2, width]), expected: 8))
    }

    /// Next-token losses on Vulkan equal the CPU backend's, slice by slice of the vocabulary, and
    /// only a max, a sum and the target's rank and logit per row and slice come back.
    func testNextTokenLossesReduceTheLogitsOnTheDevice() throws {
        let dir = ForwardTests.fixtures.appendingPathComponent("gemma3_tiny").path
        let tokens: [Int32] = [2, 40, 17, 99, 5, 61, 8, 23, 77]
        let (gpuModel, cpuModel) = (try Transformer(directory: dir, backend: gpu), try Transformer(directory: dir, backend: cpu))
        let vocab = gpuModel.config.vocabSize
        for slice in [vocab, 50] {
            _ = try gpuModel.forward(tokens, logits: .finalNormed)  // weights resident before counting
            let before = gpu.traffic
            let got = try NextTokenLoss.crossEntropies(gpuModel, tokens, hooks: nil, vocabularySlice: slice)
            let traffic = gpu.traffic - before
            let want = try NextTokenLoss.crossEntropies(cpuModel, tokens, hooks: nil, vocabularySlice: slice)
            let reference = try NextTokenLoss.referenceCrossEntropies(cpuModel, tokens, hooks: nil)
            for p in 0..<(tokens.count - 1) {
                XCTAssertEqual(got[p]!, want[p]!, accuracy: 1e-5 * max(1, want[p]!), "position \(p), slice \(slice)")
                XCTAssertEqual(want[p]!, reference[p]!, accuracy: 1e-5 * max(1, want[p]!), "position \(p), slice \(slice)")
            }
            XCTAssertNil(got.last!)
            let slices = (vocab + slice - 1) / slice
            XCTAssertEqual(traffic.bytesFromDevice, slices * (tokens.count - 1) * 5 * 4, "summaries only: \(traffic.summary)")
        }
    }

    /// `sae eval`'s losses and figures on Vulkan equal the CPU backend's.
    func testSAEEvaluationOnVulkanIsTheCPUBackends() throws {
        let dir = ForwardTests.fixtures.appendingPathComponent("gemma2_tiny").path
        let saePath = ForwardTests.fixtures.appendingPathComponent("sae/saelens_topk").path
        let tokens: [Int32] = [2, 40, 17, 99, 5, 61, 8, 23, 77]
        var results: [OverallMetrics] = []
        var perToken: [[TokenMetrics]] = []
        for backend in [cpu as any Backend, gpu as any Backend] {
            let model = try Transformer(directory: dir, backend: backend)
            let evaluator = try SAEEvaluator(model: model, sae: try SAE.load(path: saePath, backend: backend))
            perToken.append(try evaluator.evaluate(tokens))
            results.append(evaluator.overall)
        }
        let (c, v) = (results[0], results[1])
        XCTAssertEqual(c.l0, v.l0)
        XCTAssertEqual(c.featureFrequency, v.featureFrequency)
        XCTAssertEqual(c.explainedVariance, v.explainedVariance, accuracy: 1e-5)
        for (a, b) in [(c.ceClean, v.ceClean), (c.ceSAE, v.ceSAE), (c.ceZero, v.ceZero)] { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(a))) }
        for (a, b) in zip(perToken[0], perToken[1]) {
            XCTAssertEqual(a.l0, b.l0)
            XCTAssertEqual(a.ceSAE ?? 0, b.ceSAE ?? 0, accuracy: 1e-5 * max(1, abs(a.ceSAE ?? 0)))
        }
    }

    /// A harvest on Vulkan writes the CPU backend's rows and reads back only those rows: not the
    /// BOS rows it leaves out.
    func testHarvestReadsBackOnlyTheRowsItWrites() throws {
        let dir = NSTemporaryDirectory() + "harvest-vulkan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = (0..<12).map { "Paragraph \($0): the quick brown fox jumps over the lazy dog.\n\n" }.joined()
        try text.write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
        let corpus = try TextCorpus(files: [dir + "/a.txt"])
        let fixture = ForwardTests.fixtures.appendingPathComponent("gemma2_tiny").path
        let hook = "blocks.1.hook_resid_post"
        var counts: [Int] = []
        for (name, backend) in [("cpu", cpu as any Backend), ("vulkan", gpu as any Backend)] {
            let model = try Transformer(directory: fixture, backend: backend)
            let packer = ContextPacker(corpus: corpus, length: 16, bos: 2) { text in text.utf8.map { Int32($0) } }
            let options = Harvester.Options(hooks: [hook], tokens: 15 * 6, context: 16, contextsPerShard: 4)
            let before = gpu.traffic
            try Harvester(model: model, modelName: "gemma2_tiny", packer: packer, options: options).run(output: dir + "/" + name)
            if name == "vulkan" { counts.append((gpu.traffic - before).bytesFromDevice) }
        }
        let (c, v) = (try HarvestedActivations(directory: dir + "/cpu", hook: hook), try HarvestedActivations(directory: dir + "/vulkan", hook: hook))
        XCTAssertEqual(v.rowCount, c.rowCount)
        let all = Array(0..<c.rowCount)
        let (a, b) = (try c.rows(all), try v.rows(all))
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(x))) }
        XCTAssertEqual(counts, [a.count * 4], "the written rows, no more")
    }
}
