import CPUBackend
import Interpretability
import LanternCore
import Models
import XCTest
@testable import Training

/// Cross-layer transcoders: the objective's hand-derived gradients (the reconstruction term and
/// AuxK) against finite differences, a synthetic cross-layer map learnt, an exact resume, a
/// checkpoint refused in one line, and the written folder reproducing the trainer's own forward.
final class CrossLayerTrainingTests: XCTestCase {
    let backend = CPUBackend()

    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "clt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func settings(width: Int = 8, k: Int = 2, batch: Int = 5, tokens: Int = 5, d: Int = 4,
                  normalization: InputNormalization = .scalar) -> SAETrainingSettings {
        var s = SAETrainingSettings(architecture: .topk, width: width, k: k, learningRate: 1e-2, batchSize: batch, tokens: tokens,
                                    auxK: 3, deadAfterTokens: 40, normalization: normalization, inputWidth: d)
        s.transcoder = true
        return s
    }

    func randomSetup(layers n: Int = 3, width s: Int = 8, d: Int = 4, rows: Int = 5, seed: UInt64)
        -> (CrossLayerParameters, [[Float]], [[Float]]) {
        var random = SeededGenerator(seed: seed)
        var p = CrossLayerParameters.initial(layers: n, width: s, inputWidth: d,
                                             decoderBiases: (0..<n).map { _ in (0..<d).map { _ in 0.1 * random.normal() } }, random: &random)
        p.encoderBiases = p.encoderBiases.map { $0.map { _ in 0.1 * random.normal() } }
        p.decoders = p.decoders.map { $0.map { $0.map { $0 + 0.2 * random.normal() } } }
        let x = (0..<n).map { _ in (0..<(rows * d)).map { _ in random.normal() } }
        let y = (0..<n).map { _ in (0..<(rows * d)).map { _ in random.normal() } }
        return (p, x, y)
    }

    func with(_ p: CrossLayerParameters, tensor t: Int, entry e: Int, plus delta: Float) -> CrossLayerParameters {
        var q = p
        let n = p.layerCount
        if t >= 2 * n + CrossLayerParameters.decoderBlocks(layers: n) {
            q.decoderBiases[t - 2 * n - CrossLayerParameters.decoderBlocks(layers: n)][e] += delta
            return q
        }
        for i in 0..<n {
            let base = CrossLayerParameters.encoderIndex(i, layers: n)
            if t == base { q.encoders[i][e] += delta }
            if t == base + 1 { q.encoderBiases[i][e] += delta }
            if t >= base + 2, t < base + 2 + n - i { q.decoders[i][t - base - 2][e] += delta }
        }
        return q
    }

    func supports(_ objective: CrossLayerObjective, _ p: CrossLayerParameters, _ x: [[Float]], rows: Int) throws -> [[Int32]] {
        try objective.preActivations(p, inputs: x, rows: rows).map { SparseCodes.select($0, rows: rows, width: p.width, k: objective.k).latents }
    }

    func testGradientsMatchFiniteDifferences() throws {
        let objective = CrossLayerObjective(backend: backend, settings: settings())
        let (p, x, y) = randomSetup(seed: 7)
        let g = try objective.evaluate(p, inputs: x, targets: y, rows: 5).gradients
        XCTAssertEqual(g.map(\.count), p.tensors.map(\.values.count))
        let eps: Float = 1e-3
        var checked = 0, nonzero = 0
        for (t, tensor) in p.tensors.enumerated() {
            for e in 0..<tensor.values.count {
                let plus = with(p, tensor: t, entry: e, plus: eps), minus = with(p, tensor: t, entry: e, plus: -eps)
                // Only where the TopK selection stays put (the loss is smooth there).
                guard try supports(objective, plus, x, rows: 5) == supports(objective, minus, x, rows: 5) else { continue }
                let numeric = (try objective.evaluate(plus, inputs: x, targets: y, rows: 5).loss
                               - objective.evaluate(minus, inputs: x, targets: y, rows: 5).loss) / Double(2 * eps)
                XCTAssertEqual(Double(g[t][e]), numeric, accuracy: 2e-3 + 2e-2 * abs(numeric), "\(tensor.name)[\(e)]")
                checked += 1
                if abs(numeric) > 1e-3 { nonzero += 1 }
            }
        }
        XCTAssertGreaterThan(checked, 300)
        XCTAssertGreaterThan(nonzero, 150, "the check must cover gradients that are not zero")
    }

    /// AuxK: latents that fire on no row are dead; moving their encoder and decoder rows leaves the
    /// main reconstruction alone, so the loss's change there is the AuxK term's alone.
    func testAuxKGradientsMatchFiniteDifferences() throws {
        let objective = CrossLayerObjective(backend: backend, settings: settings(k: 1))
        let (p, x, y) = randomSetup(seed: 19)
        let fired = try objective.evaluate(p, inputs: x, targets: y, rows: 5).fired
        let dead = fired.map { $0.map { !$0 } }
        XCTAssertTrue(dead.allSatisfy { $0.contains(true) }, "every layer needs a dead latent")
        let result = try objective.evaluate(p, inputs: x, targets: y, rows: 5, dead: dead)
        XCTAssertGreaterThan(result.auxLoss, 0)
        let (n, d) = (p.layerCount, p.inputWidth)
        var checked = 0
        for i in 0..<n {
            for f in 0..<p.width where dead[i][f] {
                var entries: [(Int, Int)] = (0..<d).map { (CrossLayerParameters.encoderIndex(i, layers: n), f * d + $0) }
                entries.append((CrossLayerParameters.encoderIndex(i, layers: n) + 1, f))
                for j in i..<n { entries += (0..<d).map { (CrossLayerParameters.decoderIndex(i, j, layers: n), f * d + $0) } }
                for (t, e) in entries {
                    let eps: Float = 1e-3
                    let plus = with(p, tensor: t, entry: e, plus: eps), minus = with(p, tensor: t, entry: e, plus: -eps)
                    guard try supports(objective, plus, x, rows: 5) == supports(objective, minus, x, rows: 5) else { continue }
                    let numeric = (try objective.evaluate(plus, inputs: x, targets: y, rows: 5, dead: dead).loss
                                   - objective.evaluate(minus, inputs: x, targets: y, rows: 5, dead: dead).loss) / Double(2 * eps)
                    XCTAssertEqual(Double(result.gradients[t][e]), numeric, accuracy: 1e-3 + 2e-2 * abs(numeric), "aux \(t)[\(e)]")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 30)
    }

    /// Three layers whose outputs are sums of sparse features of their own and earlier layers'
    /// inputs: y_j = Σ_{i≤j} relu(x_i·A_i)·B_ij.
    static func crossLayerData(layers n: Int = 3, rows: Int = 1500, d: Int = 8, hidden: Int = 6, seed: UInt64 = 3)
        -> (inputs: [InMemoryActivations], targets: [InMemoryActivations]) {
        var random = SeededGenerator(seed: seed)
        let a = (0..<n).map { _ in (0..<(d * hidden)).map { _ in random.normal() } }
        let b = (0..<n).map { _ in (0..<n).map { _ in (0..<(hidden * d)).map { _ in random.normal() / 2 } } }
        let x = (0..<n).map { _ in (0..<(rows * d)).map { _ in random.normal() } }
        var y = [[Float]](repeating: [Float](repeating: 0, count: rows * d), count: n)
        for r in 0..<rows {
            for i in 0..<n {
                var h = [Float](repeating: 0, count: hidden)
                for u in 0..<hidden {
                    var sum: Float = -1
                    for c in 0..<d { sum += x[i][r * d + c] * a[i][c * hidden + u] }
                    h[u] = max(0, sum)
                }
                for j in i..<n {
                    for o in 0..<d {
                        var sum: Float = 0
                        for u in 0..<hidden { sum += h[u] * b[i][j][u * d + o] }
                        y[j][r * d + o] += sum
                    }
                }
            }
        }
        return (x.map { InMemoryActivations(values: $0.map { $0 * 2 + 0.3 }, width: d) }, y.map { InMemoryActivations(values: $0, width: d) })
    }

    func testLossGoesDown() throws {
        let data = Self.crossLayerData()
        let trainer = try CrossLayerTrainer(settings: settings(width: 24, k: 6, batch: 128, tokens: 128 * 150, d: 8),
                                            inputs: data.inputs, targets: data.targets, backend: backend)
        let first = try trainer.trainStep()
        var last = first
        while !trainer.isFinished { last = try trainer.trainStep() }
        XCTAssertLessThan(last.reconstructionLoss, first.reconstructionLoss / 3, "FVU \(first.fvu) → \(last.fvu)")
        XCTAssertEqual(last.l0.count, 3)
        XCTAssertTrue(last.l0.allSatisfy { $0 <= 6 })
    }

    func testResumesBitForBit() throws {
        let data = Self.crossLayerData(rows: 300)
        let s = settings(width: 12, k: 3, batch: 64, tokens: 64 * 12, d: 8, normalization: .perDimensionSqrt)
        let whole = try CrossLayerTrainer(settings: s, inputs: data.inputs, targets: data.targets, backend: backend)
        while !whole.isFinished { try whole.trainStep() }
        let path = try directory() + "/checkpoint.safetensors"
        let first = try CrossLayerTrainer(settings: s, inputs: data.inputs, targets: data.targets, backend: backend)
        for _ in 0..<5 { try first.trainStep() }
        try first.state.save(path: path)
        let resumed = try CrossLayerTrainer.resume(checkpoint: path, inputs: data.inputs, targets: data.targets, backend: backend)
        XCTAssertTrue(resumed.state == first.state, "the checkpoint restores the state exactly")
        while !resumed.isFinished { try resumed.trainStep() }
        XCTAssertEqual(resumed.step, whole.step)
        XCTAssertTrue(resumed.state.adam == whole.state.adam, "Adam's state")
        XCTAssertTrue(resumed.rowsSinceFired == whole.rowsSinceFired, "dead counters")
        for (a, b) in zip(resumed.parameters.tensors, whole.parameters.tensors) { XCTAssertTrue(a.values == b.values, a.name) }
    }

    func testCheckpointOfAnotherRunIsRefusedInOneLine() throws {
        let data = Self.crossLayerData(rows: 100)
        let trainer = try CrossLayerTrainer(settings: settings(width: 6, k: 2, batch: 20, tokens: 40, d: 8),
                                            inputs: data.inputs, targets: data.targets, backend: backend)
        try trainer.trainStep()
        let path = try directory() + "/checkpoint.safetensors"
        try trainer.state.save(path: path)
        XCTAssertThrowsError(try CrossLayerTrainer.resume(checkpoint: path, inputs: Array(data.inputs.prefix(2)),
                                                          targets: Array(data.targets.prefix(2)), backend: backend)) { error in
            XCTAssertTrue("\(error)".contains("layers: 3, but the activations hold 2 layers"), "\(error)")
        }
        XCTAssertThrowsError(try SAETrainerState.load(path: path)) { XCTAssertTrue("\($0)".contains("not a Lantern SAE checkpoint"), "\($0)") }
        XCTAssertThrowsError(try CrossLayerTrainerState.load(path: path + "x")) { XCTAssertEqual("\($0)".split(separator: "\n").count, 1) }
    }

    /// A checkpoint whose numbers cannot belong to a run is refused in one line naming the field.
    func testCorruptCheckpointsAreRefusedInOneLine() throws {
        let data = Self.crossLayerData(rows: 100)
        let trainer = try CrossLayerTrainer(settings: settings(width: 6, k: 2, batch: 20, tokens: 40, d: 8),
                                            inputs: data.inputs, targets: data.targets, backend: backend)
        try trainer.trainStep()
        let dir = try directory()
        var cases: [(String, CrossLayerTrainerState)] = []
        var state = trainer.state
        state.step = 3
        cases.append(("step: 3 is outside 0…2", state))
        state = trainer.state
        state.adam.secondMoments[4][0] = -1
        cases.append(("adam_v.decoder.0.2: a negative second moment", state))
        state = trainer.state
        state.parameters.targetNormalization[1].scale = 0
        cases.append(("target_scale: 0.0 at layer 1", state))
        state = trainer.state
        state.parameters.decoders[1][0][5] = .nan
        cases.append(("decoder.1.1: holds nan at index 5", state))
        state = trainer.state
        state.rowsSinceFired[2][1] = -4
        cases.append(("rows_since_fired: -4.0 at index 13", state))
        for (expected, bad) in cases {
            let path = dir + "/\(UUID().uuidString).safetensors"
            try bad.save(path: path)
            XCTAssertThrowsError(try CrossLayerTrainerState.load(path: path)) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
                XCTAssertEqual("\(error)".split(separator: "\n").count, 1)
            }
        }
        let good = dir + "/good.safetensors"
        try trainer.state.save(path: good)
        XCTAssertTrue(try CrossLayerTrainerState.load(path: good) == trainer.state)
    }

    /// The folder written from a trained run (normalised per dimension, folded into the weights)
    /// loads as a CrossLayerTranscoder whose reconstruction of raw rows equals the trainer's.
    func testWrittenFolderReproducesTheTrainer() throws {
        let data = Self.crossLayerData(rows: 400)
        let trainer = try CrossLayerTrainer(settings: settings(width: 16, k: 4, batch: 64, tokens: 64 * 10, d: 8, normalization: .perDimensionSqrt),
                                            inputs: data.inputs, targets: data.targets, backend: backend)
        while !trainer.isFinished { try trainer.trainStep() }
        let dir = try directory() + "/clt"
        try GemmaScope2.writeCrossLayerTranscoder(layers: trainer.parameters.folded(), dIn: 8, dSAE: 16, dOut: 8, activation: .topK(4),
                                                   inputHook: "blocks.0.ln2.hook_normalized", outputHook: "blocks.0.hook_mlp_out",
                                                   modelName: "synthetic", to: dir)
        let clt = try GemmaScope2.loadCrossLayerTranscoder(directory: dir, backend: backend)
        XCTAssertEqual(clt.layerCount, 3)
        XCTAssertEqual(clt.inputHooks, ["blocks.0.ln2.hook_normalized", "blocks.1.ln2.hook_normalized", "blocks.2.ln2.hook_normalized"])
        XCTAssertEqual(clt.outputHooks.last, "blocks.2.hook_mlp_out")
        let rows = Array(0..<50)
        let raw = try data.inputs.map { try $0.rows(rows) }
        let expected = try trainer.reconstruct(rawInputs: raw, rows: rows.count)
        let (_, outputs) = try clt.reconstruct(try raw.map { try backend.matrix($0, rows: rows.count, cols: 8) })
        for j in 0..<3 {
            let got = try backend.read(outputs[j])
            let scale = expected[j].map(abs).max()!
            let worst = zip(got, expected[j]).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-4 * scale, "output layer \(j): worst difference \(worst) of \(scale)")
        }
    }
}
