import CPUBackend
import Formats
import Interpretability
import LanternCore
import Models
import XCTest
@testable import Training

/// End-to-end SAE fine-tuning: the hand-derived gradients against finite differences of the loss
/// computed here from scratch (the SAE spliced in with a plain loop, the KL from two forward
/// passes); the SAELens weights ↔ training-space reparametrisation; the loss going down; and a
/// resumed run equal to the uninterrupted one, bit for bit.
final class SAEKLFinetuneTests: XCTestCase {
    static let fixtures = TunedLensTrainingTests.fixtures
    struct Stop: Error {}

    /// A random TopK SAE in SAELens's layout (W_enc [d, s], W_dec [s, d]).
    static func randomSAE(d: Int, s: Int, seed: UInt64) -> SAEWeights {
        var rng = SeededGenerator(seed: seed)
        return SAEWeights(wEnc: (0..<(d * s)).map { _ in Float.random(in: -0.3...0.3, using: &rng) },
                          wDec: (0..<(s * d)).map { _ in Float.random(in: -0.3...0.3, using: &rng) },
                          bEnc: (0..<s).map { _ in Float.random(in: -0.1...0.4, using: &rng) },
                          bDec: (0..<d).map { _ in Float.random(in: -0.2...0.2, using: &rng) }, threshold: nil)
    }

    /// The loss, from scratch in double precision where it is summed: the spliced activations by
    /// loops over p, the KL over spliced positions from the clean and spliced logits.
    static func loss(_ model: Transformer, _ p: SAEParameters, hook: String, k: Int, tokens: [Int32], weight: Double) throws -> Double {
        let d = p.inputWidth, s = p.width, vocab = model.config.vocabSize, b = model.backend
        let keep = tokens.indices.filter { tokens[$0] != model.config.bosToken }
        let clean = try b.read(try model.forward(tokens, hooks: nil, logits: .all)!)
        var squares = 0.0
        let hooks = Hooks()
        hooks.intervene(hook) { x, _ in
            var all = try b.read(x)
            for i in keep {
                let xp = (0..<d).map { j in p.inputScale * (all[i * d + j] - p.inputShift[j]) * p.dimensionScale[j] }
                var pre = (0..<s).map { f in (0..<d).reduce(p.encoderBias[f]) { $0 + (xp[$1] - p.decoderBias[$1]) * p.encoder[f * d + $1] } }
                let kept = Set(pre.indices.sorted { pre[$0] > pre[$1] }.prefix(k))
                for f in 0..<s where !kept.contains(f) || pre[f] < 0 { pre[f] = 0 }
                for j in 0..<d {
                    let rec = (0..<s).reduce(p.decoderBias[j]) { $0 + pre[$1] * p.decoder[$1 * d + j] }
                    squares += Double(rec - xp[j]) * Double(rec - xp[j])
                    all[i * d + j] = rec / (p.inputScale * p.dimensionScale[j]) + p.inputShift[j]
                }
            }
            return try b.tensor(all, shape: x.shape)
        }
        let spliced = try b.read(try model.forward(tokens, hooks: hooks, logits: .all)!)
        var kl = 0.0
        for i in keep {
            let lp = LensDivergence.logSoftmaxRows(Array(clean[(i * vocab)..<((i + 1) * vocab)]), vocab: vocab)
            let lq = LensDivergence.logSoftmaxRows(Array(spliced[(i * vocab)..<((i + 1) * vocab)]), vocab: vocab)
            for v in 0..<vocab { kl += exp(Double(lp[v])) * Double(lp[v] - lq[v]) }
        }
        return kl / Double(keep.count) + weight * squares / Double(keep.count)
    }

    func testGradientsMatchFiniteDifferences() throws {
        for name in ["gemma3_tiny", "gemma2_tiny"] {  // gemma2_tiny: through the final softcap
            let model = try Transformer(directory: Self.fixtures.appendingPathComponent(name).path, backend: CPUBackend())
            let d = model.config.hiddenSize, s = 24, k = 5, hook = "blocks.1.hook_resid_post", weight = 0.5
            let tokens: [Int32] = [2, 72, 101, 108, 108, 111, 32, 119, 111, 114]
            let objective = try SAEKLObjective(model: model, hook: hook, k: k, reconstructionWeight: weight)
            let p = try SAEParameters(sae: Self.randomSAE(d: d, s: s, seed: 5), normalizedOn: try objective.rawInputs(tokens), width: d)
            let m = tokens.count - 1
            let share = try objective.evaluate(p, tokens: tokens, stepTokens: m, variance: Double(m))
            let base = try Self.loss(model, p, hook: hook, k: k, tokens: tokens, weight: weight)
            XCTAssertEqual(share.kl / Double(m) + weight * share.squaredError / Double(m), base, accuracy: 1e-4 * max(1, base), name)
            XCTAssertEqual(share.l0, Double(m * k), name)

            // Entries with gradients large enough to measure, of every tensor.
            let g = share.gradients
            func largest(_ values: [Float], _ count: Int) -> [Int] { Array(values.indices.sorted { abs(values[$0]) > abs(values[$1]) }.prefix(count)) }
            let cases: [(String, WritableKeyPath<SAEParameters, [Float]>, [Float])] = [
                ("encoder", \.encoder, g.encoder), ("encoder_bias", \.encoderBias, g.encoderBias),
                ("decoder", \.decoder, g.decoder), ("decoder_bias", \.decoderBias, g.decoderBias),
            ]
            for (label, path, analytic) in cases {
                XCTAssertTrue(analytic.contains { $0 != 0 }, "\(name) \(label): no gradient")
                for i in largest(analytic, 4) {
                    let h: Float = 1e-2 * max(abs(p[keyPath: path][i]), 0.1)
                    var plus = p, minus = p
                    plus[keyPath: path][i] += h
                    minus[keyPath: path][i] -= h
                    let numeric = (try Self.loss(model, plus, hook: hook, k: k, tokens: tokens, weight: weight)
                        - Self.loss(model, minus, hook: hook, k: k, tokens: tokens, weight: weight)) / Double(2 * h)
                    XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 0.03 * abs(numeric) + 1e-4, "\(name) \(label)[\(i)]")
                }
            }
        }
    }

    /// SAELens weights → training space → SAELens weights is the identity (up to rounding), and the
    /// training space is what it says: E‖x'‖² = 1 on the sample.
    func testReparametrisationRoundTrips() throws {
        let d = 8, s = 12, n = 50
        var rng = SeededGenerator(seed: 9)
        let x = (0..<(n * d)).map { i in Float.random(in: -1...1, using: &rng) * (i % d == 3 ? 40 : 1) + (i % d == 5 ? 100 : 0) }
        let w = Self.randomSAE(d: d, s: s, seed: 2)
        let p = try SAEParameters(sae: w, normalizedOn: x, width: d)
        let xp = p.normalized(x)
        XCTAssertEqual(xp.reduce(0.0) { $0 + Double($1 * $1) } / Double(n), 1, accuracy: 1e-4)
        let dir = NSTemporaryDirectory() + "sae-kl-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SAELensExport.write(p, architecture: .topk, k: 3, description: .init(hookName: "blocks.0.hook_resid_post", hookLayer: 0, modelName: "m"), to: dir)
        let back = try SAE.readSAELens(directory: dir).weights
        // b_dec goes through b_dec − μ and back: rounding at the scale of μ (100 in dimension 5).
        for (label, a, b, scale) in [("W_enc", back.wEnc, w.wEnc, 1), ("W_dec", back.wDec, w.wDec, 1), ("b_enc", back.bEnc, w.bEnc, 1),
                                     ("b_dec", back.bDec, w.bDec, 100)] as [(String, [Float], [Float], Float)] {
            for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 2e-6 * max(scale, abs(b[i])), "\(label)[\(i)]") }
        }
    }

    func testFinetuningLowersTheKLAndResumesExactly() throws {
        let dir = NSTemporaryDirectory() + "sae-kl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = dir + "/train.txt"
        try TunedLensTrainingTests.text(seed: 6, sentences: 200).write(toFile: corpus, atomically: true, encoding: .utf8)
        func packer() throws -> ContextPacker {
            ContextPacker(corpus: try TextCorpus(files: [corpus]), length: 24, bos: 2) { $0.utf8.map { Int32($0) } }
        }
        let model = try Transformer(directory: Self.fixtures.appendingPathComponent("gemma3_tiny").path, backend: CPUBackend())
        let d = model.config.hiddenSize, hook = "blocks.2.hook_resid_post", k = 6
        let options = SAEKLFinetuner.Options(tokens: 1500, context: 24, contextsPerStep: 3, learningRate: 3e-3, reconstructionWeight: 0.1,
                                             contextStride: 2)
        let trainer = try SAEKLFinetuner(model: model, hook: hook, k: k, packer: try packer(), options: options)
        XCTAssertGreaterThan(options.steps, 12)
        let start = Self.randomSAE(d: d, s: 48, seed: 3)
        var curve: [SAEKLFinetuner.Step] = []
        let whole = try trainer.train(start: start) { curve.append($0) }
        XCTAssertEqual(curve.count, options.steps)
        XCTAssertTrue(curve.allSatisfy { $0.l0 == Double(k) }, "L0 stays k")
        let early = curve.prefix(3).map(\.kl).reduce(0, +), late = curve.suffix(3).map(\.kl).reduce(0, +)
        XCTAssertLessThan(late, 0.7 * early, "KL \(curve.map(\.kl))")

        // Stopped after step 7 (the checkpoint is saved then), resumed from the file.
        let path = dir + "/checkpoint.safetensors"
        XCTAssertThrowsError(try trainer.train(start: start, checkpoint: (path, 5)) { if $0.step == 7 { throw Stop() } })
        let saved = try SAEKLCheckpoint.load(path: path)
        XCTAssertEqual(saved.step, 7)
        var steps: [Int] = []
        let resumed = try trainer.train(start: start, resume: saved, checkpoint: (path, 5)) { steps.append($0.step) }
        XCTAssertEqual(steps, Array(8...options.steps))
        XCTAssertEqual(resumed, whole)

        // A checkpoint of other options is refused in one line.
        var other = options
        other.learningRate = 1e-3
        let otherTrainer = try SAEKLFinetuner(model: model, hook: hook, k: k, packer: try packer(), options: other)
        XCTAssertThrowsError(try otherTrainer.train(start: start, resume: saved)) { error in
            XCTAssertTrue("\(error)".contains("other options"), "\(error)")
        }
    }
}
