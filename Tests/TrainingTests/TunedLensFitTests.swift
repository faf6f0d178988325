import CPUBackend
import Interpretability
import LanternCore
import Models
import XCTest
@testable import Training

/// The least-squares start of a tuned lens: against a plain normal-equations solve of the same
/// captured residuals (Float64 Gaussian elimination, no scaling), better than the logit lens on
/// held-out text, and a start that KL training improves from.
final class TunedLensFitTests: XCTestCase {
    typealias Support = TunedLensTrainingTests

    func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "lens-fit-\(UUID().uuidString).txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func packer(_ path: String) throws -> ContextPacker {
        ContextPacker(corpus: try TextCorpus(files: [path]), length: 32, bos: 2) { $0.utf8.map { Int32($0) } }
    }

    func testCholeskySolvesARidgeSystem() throws {
        var rng = SeededGenerator(seed: 3)
        let n = 7, m = 3
        let x = (0..<(20 * n)).map { _ in Double.random(in: -1...1, using: &rng) }
        var a = [Double](repeating: 0, count: n * n)
        for r in 0..<20 { for i in 0..<n { for j in 0..<n { a[i * n + j] += x[r * n + i] * x[r * n + j] } } }
        let beta = (0..<(n * m)).map { _ in Double.random(in: -2...2, using: &rng) }
        var rhs = [Double](repeating: 0, count: n * m)
        for i in 0..<n { for c in 0..<m { for k in 0..<n { rhs[i * m + c] += a[i * n + k] * beta[k * m + c] } } }
        let solved = try TunedLensFit.solveRidge(a, rhs, size: n, outputs: m, ridge: 0)
        for (s, e) in zip(solved, beta) { XCTAssertEqual(s, e, accuracy: 1e-9) }
        XCTAssertThrowsError(try TunedLensFit.solveRidge([Double](repeating: 0, count: n * n), rhs, size: n, outputs: m, ridge: 0))
    }

    func testFitEqualsPlainLeastSquaresAndBeatsTheLogitLens() throws {
        let train = try file(Support.text(seed: 1, sentences: 400)), heldOut = try file(Support.text(seed: 2, sentences: 60))
        let name = "gemma3_tiny"
        let model = try Transformer(directory: Support.fixtures.appendingPathComponent(name).path, backend: CPUBackend())
        let d = model.config.hiddenSize, rows = model.config.layerCount, tokens = 1200
        let lens = try TunedLensFit.fit(model: model, packer: try packer(train),
                                        options: .init(tokens: tokens, context: 32), name: name)

        // The same positions captured again, and row 2 solved plainly: [h, 1]ᵀ[h, 1] β = [h, 1]ᵀ y.
        let hooks = LogitLens.residualHooks(model.config), row = 2
        var xs: [[Double]] = [], ys: [[Double]] = []
        try packer(train).forEachContext { _, c in
            let capture = Hooks(capture: HookFilter(hooks))
            try model.forward(c, hooks: capture, logits: .none)
            let h = try model.backend.read(capture.activation(hooks[row])!), y = try model.backend.read(capture.activation(hooks[rows])!)
            for p in 1..<c.count where xs.count < tokens {
                xs.append(h[(p * d)..<((p + 1) * d)].map(Double.init) + [1])
                ys.append(y[(p * d)..<((p + 1) * d)].map(Double.init))
            }
            return xs.count < tokens
        }
        let w = d + 1
        var augmented = [[Double]](repeating: [Double](repeating: 0, count: w + d), count: w)
        for (x, y) in zip(xs, ys) {
            for i in 0..<w {
                for j in 0..<w { augmented[i][j] += x[i] * x[j] }
                for o in 0..<d { augmented[i][w + o] += x[i] * y[o] }
            }
        }
        for col in 0..<w {  // Gauss-Jordan with partial pivoting
            let pivot = (col..<w).max { abs(augmented[$0][col]) < abs(augmented[$1][col]) }!
            augmented.swapAt(col, pivot)
            let p = augmented[col][col]
            augmented[col] = augmented[col].map { $0 / p }
            for r in 0..<w where r != col && augmented[r][col] != 0 {
                let f = augmented[r][col]
                for k in 0..<(w + d) { augmented[r][k] -= f * augmented[col][k] }
            }
        }
        // The fit's ridge (it keeps the embedding row solvable: byte tokens span a few dozen
        // directions) moves it off the exact minimum, so compare the squared prediction error
        // over the fitted positions: the plain solution's is the minimum, the fit's within 0.1% of it.
        var fitError = 0.0, plainError = 0.0
        for (x, y) in zip(xs, ys) {
            for o in 0..<d {
                var fit = x[o] + Double(lens.biases[row][o]), plain = augmented[d][w + o]
                for i in 0..<d {
                    fit += x[i] * Double(lens.weights[row][o * d + i])
                    plain += x[i] * augmented[i][w + o]
                }
                fitError += (fit - y[o]) * (fit - y[o])
                plainError += (plain - y[o]) * (plain - y[o])
            }
        }
        XCTAssertLessThanOrEqual(plainError, fitError * (1 + 1e-9), "the plain solution is the least-squares minimum")
        XCTAssertLessThan(fitError, plainError * 1.001, "translator \(row): squared error \(fitError) against the minimum \(plainError)")

        var contexts: [[Int32]] = []
        try packer(heldOut).forEachContext { _, c in contexts.append(c); return contexts.count < 24 }
        let report = try LensDivergence.evaluate(model, contexts: contexts, tuned: lens)
        for r in 0..<rows { XCTAssertLessThan(report.tunedKL![r], report.logitKL[r], "row \(report.rowLabels[r])") }

        // KL training from the fit lowers the held-out KL on average.
        var trained = lens
        try TunedLensTrainer(model: model, packer: try packer(train),
                             options: .init(tokens: 4000, context: 32, contextsPerStep: 4, learningRate: 1e-3)).train(&trained)
        let after = try LensDivergence.evaluate(model, contexts: contexts, tuned: trained).tunedKL!
        let mean = { (k: [Double]) in k.prefix(rows).reduce(0, +) / Double(rows) }
        XCTAssertLessThan(mean(after), mean(report.tunedKL!))
        print("gemma3_tiny held-out KL per row, logit → fit → fit + KL training: "
              + (0..<rows).map { String(format: "%.3f→%.3f→%.3f", report.logitKL[$0], report.tunedKL![$0], after[$0]) }.joined(separator: " "))
    }
}
