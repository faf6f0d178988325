import CPUBackend
import Interpretability
import LanternCore
import Models
import XCTest
@testable import Training

/// The hand-derived tuned-lens gradients against finite differences: the RMSNorm backward alone
/// (in double precision), then the whole chain translator → final norm → unembedding (→ Gemma 2's
/// softcap) → KL on the tiny fixtures, through the backend.
final class TunedLensGradientTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    func testRMSNormBackwardMatchesFiniteDifferences() {
        var rng = SeededGenerator(seed: 3)
        let rows = 3, width = 16, eps: Float = 1e-6
        let t = (0..<(rows * width)).map { _ in Float.random(in: -2...2, using: &rng) }
        let gain = (0..<width).map { _ in Float.random(in: 0.5...1.5, using: &rng) }
        let g = (0..<(rows * width)).map { _ in Float.random(in: -1...1, using: &rng) }
        // L(t) = Σ g · RMSNorm(t), in double precision.
        func loss(_ x: [Double]) -> Double {
            var total = 0.0
            for r in 0..<rows {
                let row = x[(r * width)..<((r + 1) * width)]
                let inv = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(width) + Double(eps)).squareRoot()
                for (i, v) in row.enumerated() { total += Double(g[r * width + i]) * v * inv * Double(gain[i]) }
            }
            return total
        }
        let analytic = TunedLensObjective.rmsNormBackward(t, gradOut: g, gain: gain, eps: eps)
        let base = t.map(Double.init)
        for i in 0..<t.count {
            var plus = base, minus = base
            plus[i] += 1e-5
            minus[i] -= 1e-5
            let numeric = (loss(plus) - loss(minus)) / 2e-5
            XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 1e-4 * max(1, abs(numeric)), "element \(i)")
        }
    }

    /// The LayerNorm backward (GPT-2, GPT-NeoX) the same way: L(t) = Σ g · (LayerNorm(t) − b).
    func testLayerNormBackwardMatchesFiniteDifferences() {
        var rng = SeededGenerator(seed: 4)
        let rows = 3, width = 16, eps: Float = 1e-5
        let t = (0..<(rows * width)).map { _ in Float.random(in: -2...3, using: &rng) }
        let gain = (0..<width).map { _ in Float.random(in: 0.5...1.5, using: &rng) }
        let g = (0..<(rows * width)).map { _ in Float.random(in: -1...1, using: &rng) }
        func loss(_ x: [Double]) -> Double {
            var total = 0.0
            for r in 0..<rows {
                let row = x[(r * width)..<((r + 1) * width)]
                let mean = row.reduce(0, +) / Double(width)
                let inv = 1 / (row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width) + Double(eps)).squareRoot()
                for (i, v) in row.enumerated() { total += Double(g[r * width + i]) * (v - mean) * inv * Double(gain[i]) }
            }
            return total
        }
        let analytic = TunedLensObjective.layerNormBackward(t, gradOut: g, gain: gain, eps: eps)
        let base = t.map(Double.init)
        for i in 0..<t.count {
            var plus = base, minus = base
            plus[i] += 1e-5
            minus[i] -= 1e-5
            let numeric = (loss(plus) - loss(minus)) / 2e-5
            XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 1e-4 * max(1, abs(numeric)), "element \(i)")
        }
    }

    func testTranslatorGradientsMatchFiniteDifferences() throws {
        for name in ["gemma2_tiny", "gemma3_tiny", "gpt2_tiny"] {
            let model = try Transformer(directory: Self.fixtures.appendingPathComponent(name).path, backend: CPUBackend())
            let c = model.config, d = c.hiddenSize, vocab = c.vocabSize
            let tokens: [Int32] = [2, 72, 101, 108, 108, 111, 32, 119]
            let hooks = Hooks(capture: HookFilter(LogitLens.residualHooks(layers: c.layerCount)))
            let final = try model.forward(tokens, hooks: hooks, logits: .all)!
            let logP = LensDivergence.logSoftmaxRows(try model.backend.read(final), vocab: vocab)
            let row = 1
            let residual = hooks.activation(LogitLens.residualHooks(layers: c.layerCount)[row])!
            // Start away from zero so that the weight's own contribution is exercised.
            var lens = TunedLens(for: model, name: name)
            var rng = SeededGenerator(seed: 11)
            lens.weights[row] = (0..<(d * d)).map { _ in Float.random(in: -0.05...0.05, using: &rng) }
            lens.biases[row] = (0..<d).map { _ in Float.random(in: -0.2...0.2, using: &rng) }
            let scale = 1 / Float(tokens.count)
            let gradient = try TunedLensGradient(model: model)
            let analytic = try gradient.evaluate(lens, row: row, residual: residual, targetLogP: logP, scale: scale)
            func loss(_ l: TunedLens) throws -> Double {
                let logits = try model.backend.read(try l.logits(model, residual: residual, row: row))
                return Double(scale) * LensDivergence.klSum(logP: logP, lensLogits: logits, vocab: vocab)
            }
            XCTAssertEqual(analytic.kl * Double(scale), try loss(lens), accuracy: 1e-5, name)
            var worst = 0.0
            for index in [0, 5, 64 * 3 + 7, d * d - 1, 1000, 2049].map({ $0 % (d * d) }) {
                var plus = lens, minus = lens
                let h: Float = 1e-2
                plus.weights[row][index] += h
                minus.weights[row][index] -= h
                let numeric = (try loss(plus) - loss(minus)) / Double(2 * h)
                let err = abs(Double(analytic.weight[index]) - numeric) / max(abs(numeric), 1e-3)
                worst = max(worst, err)
                XCTAssertLessThan(err, 2e-2, "\(name) weight[\(index)]: analytic \(analytic.weight[index]) numeric \(numeric)")
            }
            for index in [0, 9, d - 1] {
                var plus = lens, minus = lens
                let h: Float = 1e-2
                plus.biases[row][index] += h
                minus.biases[row][index] -= h
                let numeric = (try loss(plus) - loss(minus)) / Double(2 * h)
                let err = abs(Double(analytic.bias[index]) - numeric) / max(abs(numeric), 1e-3)
                worst = max(worst, err)
                XCTAssertLessThan(err, 2e-2, "\(name) bias[\(index)]: analytic \(analytic.bias[index]) numeric \(numeric)")
            }
            print("\(name): tuned-lens gradient worst relative error vs finite differences \(worst)")
        }
    }

    /// Translators evaluated stacked (one product with the unembedding for several) give what each
    /// gives alone, to summation order, whether they fit one group or take several.
    func testStackedTranslatorsEqualLoneOnes() throws {
        for name in ["gemma2_tiny", "gpt2_tiny"] {
            let model = try Transformer(directory: Self.fixtures.appendingPathComponent(name).path, backend: CPUBackend())
            let c = model.config, d = c.hiddenSize
            let tokens: [Int32] = [2, 72, 101, 108, 108, 111, 32, 119, 44]
            let names = LogitLens.residualHooks(layers: c.layerCount)
            let hooks = Hooks(capture: HookFilter(names))
            let final = try model.forward(tokens, hooks: hooks, logits: .all)!
            let logP = LensDivergence.logSoftmaxRows(try model.backend.read(final), vocab: c.vocabSize)
            var lens = TunedLens(for: model, name: name)
            var rng = SeededGenerator(seed: 3)
            for row in lens.weights.indices {
                lens.weights[row] = (0..<(d * d)).map { _ in Float.random(in: -0.05...0.05, using: &rng) }
                lens.biases[row] = (0..<d).map { _ in Float.random(in: -0.2...0.2, using: &rng) }
            }
            let rows = Array(lens.weights.indices), residuals = names.prefix(rows.count).map { hooks.activation($0)! }
            let gradient = try TunedLensGradient(model: model)
            let lone = try rows.map { try gradient.evaluate(lens, row: $0, residual: residuals[$0], targetLogP: logP, scale: 0.1) }
            for maxLogits in [TunedLensGradient.stackedLogits, 2 * tokens.count * c.vocabSize] {
                let stacked = try gradient.evaluate(lens, rows: rows, residuals: residuals, targetLogP: logP, scale: 0.1, maxLogits: maxLogits)
                XCTAssertEqual(stacked.count, rows.count)
                for (a, b) in zip(stacked, lone) {
                    XCTAssertEqual(a.kl, b.kl, accuracy: 1e-5 * max(1, abs(b.kl)), "\(name) kl")
                    let scale = max(b.weight.map(abs).max()!, 1e-12)
                    XCTAssertLessThan(zip(a.weight, b.weight).map { abs($0 - $1) }.max()! / scale, 1e-5, "\(name) weight")
                    XCTAssertLessThan(zip(a.bias, b.bias).map { abs($0 - $1) }.max()! / max(b.bias.map(abs).max()!, 1e-12), 1e-5, "\(name) bias")
                }
            }
        }
    }

    /// ∂KL/∂z = q − p, through the softcap: against finite differences of the host KL alone.
    func testKLGradientThroughSoftcap() {
        var rng = SeededGenerator(seed: 5)
        let vocab = 12, cap: Float = 3
        let target = LensDivergence.logSoftmaxRows((0..<vocab).map { _ in Float.random(in: -2...2, using: &rng) }, vocab: vocab)
        let u = (0..<vocab).map { _ in Float.random(in: -4...4, using: &rng) }
        func capped(_ u: [Float]) -> [Float] { u.map { cap * tanh($0 / cap) } }
        var z = capped(u)
        _ = TunedLensObjective.klAndGradient(&z, targetLogP: target, vocab: vocab, scale: 1, softcap: cap)
        for j in 0..<vocab {
            var plus = u, minus = u
            plus[j] += 1e-3
            minus[j] -= 1e-3
            let numeric = (LensDivergence.klSum(logP: target, lensLogits: capped(plus), vocab: vocab)
                           - LensDivergence.klSum(logP: target, lensLogits: capped(minus), vocab: vocab)) / 2e-3
            XCTAssertEqual(Double(z[j]), numeric, accuracy: 2e-3, "logit \(j)")
        }
    }
}
