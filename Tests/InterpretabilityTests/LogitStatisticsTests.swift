import Foundation
import XCTest
import CPUBackend
@testable import LanternCore
import Models
@testable import Interpretability

/// The vectorised softmax statistics (lens cells, cross-entropies) against their plain
/// double-precision references: `LogitLens.cell`, `LogitLens.rank`, `Ranking.largest`,
/// `NextTokenLoss.referenceCrossEntropies` and the per-layer lens products.
final class LogitStatisticsTests: XCTestCase {
    /// exp8 against double-precision exp over everything the callers feed it (x ≤ 0).
    func testExp8MatchesExp() {
        var worst = 0.0
        var x: Float = -90
        while x <= 0 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 0.000_37 })
            let e = LogitStatistics.exp8(lanes)
            for i in 0..<8 where lanes[i] <= 0 {
                let expected = Foundation.exp(Double(lanes[i]))
                if lanes[i] < -87.3 {
                    XCTAssertEqual(e[i], 0, "exp(\(lanes[i]))")
                } else {
                    worst = max(worst, abs(Double(e[i]) - expected) / expected)
                }
            }
            x += 0.0131
        }
        XCTAssertLessThanOrEqual(worst, 3e-7, "worst relative error of exp8")
        XCTAssertEqual(LogitStatistics.exp8(SIMD8(repeating: -.infinity)), SIMD8(repeating: 0))
    }

    /// Cells of random rows (lengths not multiples of 8, ties, a dominant entry) equal the
    /// reference cell: same top-k ids, ranks, probabilities within 1e-6 relative.
    func testFastCellMatchesTheReference() {
        let seed: UInt64 = 4099
        var generator = SeededGenerator(seed: seed)
        for length in [1, 7, 8, 9, 100, 1001, 4099] {
            for variant in 0..<4 {
                var row = (0..<length).map { _ in Float.random(in: -12...12, using: &generator) }
                if variant == 1 { for i in stride(from: 0, to: length, by: 3) { row[i] = 2.5 } }  // many ties
                if variant == 2 { row[length / 2] = 60 }  // one dominant entry (the rest ~1e-31 of it)
                if variant == 3 { row = row.map { ($0 * 2).rounded() / 2 } }  // coarse values, ties everywhere
                for target in Set([0, length - 1, length / 2, Int.random(in: 0..<length, using: &generator)]) {
                    let expected = LogitLens.cell(row, topK: 5, target: Int32(target))
                    let ours = row.withUnsafeBufferPointer { LogitLens.fastCell($0, topK: 5, target: Int32(target)) }
                    let what = "length \(length) variant \(variant) target \(target) (seed \(seed))"
                    XCTAssertEqual(ours.top.map(\.token), expected.top.map(\.token), what)
                    for (a, b) in zip(ours.top, expected.top) {
                        XCTAssertEqual(a.probability, b.probability, accuracy: 1e-6 * max(b.probability, 1e-30), what)
                    }
                    XCTAssertEqual(ours.targetRank, expected.targetRank, what)
                    XCTAssertEqual(ours.targetRank, LogitLens.rank(of: target, in: LogitLens.softmax(row)), what)
                    XCTAssertEqual(ours.targetProbability!, expected.targetProbability!, accuracy: 1e-6 * max(expected.targetProbability!, 1e-30), what)
                    XCTAssertEqual(ours.entropy, expected.entropy, accuracy: 2e-5 + 1e-5 * expected.entropy, what)
                }
                let largest = row.withUnsafeBufferPointer { LogitStatistics.largest(40, of: $0) }
                XCTAssertEqual(largest, Ranking.largest(40, of: row), "length \(length) variant \(variant) (seed \(seed))")
            }
        }
    }

    /// The wide TopK (an SAE's 64 of 10,240, ranked among the entries above a floor) gives
    /// `Ranking.largest`'s list: random rows, ties everywhere, a constant row, rows with -inf,
    /// a dominant run, and lengths that leave a tail after the last whole chunk.
    func testWideLargestMatchesRanking() {
        let seed: UInt64 = 10_240
        var generator = SeededGenerator(seed: seed)
        for (k, length) in [(64, 10_240), (64, 10_241), (8, 512), (8, 511), (16, 100_003), (32, 4_095), (64, 2_000), (8, 60)] {
            for variant in 0..<6 {
                var row = (0..<length).map { _ in Float.random(in: -3...3, using: &generator) }
                if variant == 1 { row = row.map { ($0 * 2).rounded() / 2 } }  // coarse values, ties everywhere
                if variant == 2 { row = [Float](repeating: 0.25, count: length) }
                if variant == 3 { for i in stride(from: 0, to: length, by: 5) { row[i] = -.infinity } }
                if variant == 4 { for i in (length / 3)..<min(length, length / 3 + 200) { row[i] = 9 } }  // the top all in one chunk
                if variant == 5 { for i in (length - length % 16)..<length { row[i] = 50 } }  // the top in the tail
                let ours = row.withUnsafeBufferPointer { LogitStatistics.largest(k, of: $0) }
                XCTAssertEqual(ours, Ranking.largest(k, of: row), "k \(k) length \(length) variant \(variant) (seed \(seed))")
            }
        }
        // A NaN anywhere leaves no floor (the plain ranking runs), in a chunk or in the tail.
        var row = (0..<10_241).map { Float($0 % 97) }
        XCTAssertNotNil(row.withUnsafeBufferPointer { LogitStatistics.candidateFloor(64, of: $0) })
        row[5_000] = .nan
        XCTAssertNil(row.withUnsafeBufferPointer { LogitStatistics.candidateFloor(64, of: $0) })
        row[5_000] = 1; row[10_240] = .nan
        XCTAssertNil(row.withUnsafeBufferPointer { LogitStatistics.candidateFloor(64, of: $0) })
    }

    /// The summary's logsumexp and entropy against a double-precision loop.
    func testSummaryMatchesDoublePrecision() {
        let row = (0..<262_147).map { i in Float(sin(Double(i) * 0.37)) * 9 - Float(i % 17) }
        let s = row.withUnsafeBufferPointer { LogitStatistics.summary($0) }
        let top = Double(row.max()!)
        let total = row.reduce(0.0) { $0 + Foundation.exp(Double($1) - top) }
        let entropy = -row.reduce(0.0) { acc, l in let lp = Double(l) - top - log(total); return acc + Foundation.exp(lp) * lp }
        XCTAssertEqual(s.logSumExp, top + log(total), accuracy: 1e-6)
        XCTAssertEqual(s.entropy, entropy, accuracy: 1e-5 * entropy)
    }

    /// Streaming the vocabulary in slices (here slices that do not divide it) gives the full
    /// logits' cross-entropies, with and without an intervention on the pass.
    func testCrossEntropiesMatchTheFullLogits() throws {
        for name in Fixtures.modelNames {
            let model = try Fixtures.model(name)
            let tokens = try Fixtures.sequences(name)[1]
            func zeroing() -> Hooks {
                let hooks = Hooks()
                hooks.intervene("blocks.1.hook_mlp_out") { x, ctx in try ctx.backend.scale(x, by: 0) }
                return hooks
            }
            for hooks in [nil, zeroing()] {
                let expected = try NextTokenLoss.referenceCrossEntropies(model, tokens, hooks: hooks)
                for slice in [37, 100, 1 << 15] {
                    let ours = try NextTokenLoss.crossEntropies(model, tokens, hooks: hooks, vocabularySlice: slice)
                    XCTAssertEqual(ours.count, expected.count)
                    XCTAssertNil(ours.last!)
                    for (a, b) in zip(ours, expected) where b != nil {
                        XCTAssertEqual(a!, b!, accuracy: 1e-5 * max(1, abs(b!)), "\(name) slice \(slice)")
                    }
                }
            }
        }
    }

    /// The stacked lens (every row through one product) against each layer's own product read
    /// by the reference cell.
    func testStackedLensMatchesPerLayerCells() throws {
        for name in Fixtures.modelNames {
            let model = try Fixtures.model(name)
            let tokens = try Fixtures.sequences(name)[1]
            let target: Int32 = 7
            let lens = try LogitLens.run(model, tokens: tokens, topK: 4, target: target)
            let names = LogitLens.residualHooks(layers: model.config.layerCount)
            let hooks = Hooks(capture: HookFilter(names))
            try model.forward(tokens, hooks: hooks, logits: .none)
            let vocab = model.config.vocabSize
            for (row, hook) in names.enumerated() {
                let logits = try model.backend.read(try LogitLens.logits(model, residual: hooks.activation(hook)!))
                for p in tokens.indices {
                    let expected = LogitLens.cell(Array(logits[(p * vocab)..<((p + 1) * vocab)]), topK: 4, target: target)
                    let ours = lens.cells[row][p]
                    XCTAssertEqual(ours.top.map(\.token), expected.top.map(\.token), "\(name) \(hook) position \(p)")
                    XCTAssertEqual(ours.targetRank, expected.targetRank, "\(name) \(hook) position \(p)")
                    XCTAssertEqual(ours.targetProbability!, expected.targetProbability!, accuracy: 1e-5)
                    XCTAssertEqual(ours.entropy, expected.entropy, accuracy: 1e-4)
                }
            }
        }
    }
}
