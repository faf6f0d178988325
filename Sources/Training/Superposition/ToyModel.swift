import Foundation
import LanternCore
import Models

/// What one toy model of superposition (Elhage et al. 2022, "Toy Models of Superposition") is
/// trained on and how.
public struct ToyModelSettings: Sendable, Equatable {
    /// n: features in x.
    public var features: Int
    /// m: the hidden dimension h = W x squeezes them through.
    public var hidden: Int
    /// S: each feature is zero with probability S, else uniform in [0, 1).
    public var sparsity: Double
    /// r: feature i weighs I_i = rⁱ in the loss (i from 0, so feature 0 matters most).
    public var importanceDecay: Float
    public var steps: Int
    public var batchSize: Int
    /// Adam's peak rate; it decays along a half cosine to 0 over the run (see `ToyModelTrainer`).
    public var learningRate: Float
    public var seed: UInt64

    public init(features: Int = 5, hidden: Int = 2, sparsity: Double = 0, importanceDecay: Float = 0.9,
                steps: Int = 4000, batchSize: Int = 1024, learningRate: Float = 0.01, seed: UInt64 = 0) {
        self.features = features
        self.hidden = hidden
        self.sparsity = sparsity
        self.importanceDecay = importanceDecay
        self.steps = steps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
    }

    /// I_i = rⁱ.
    public var importance: [Float] { (0..<features).map { pow(importanceDecay, Float($0)) } }

    /// Throws one line naming the first setting that cannot be trained.
    public func validate() throws {
        func fail(_ message: String) -> LanternError { .invalidArgument("toy model: \(message)") }
        guard features >= 1 else { throw fail("features n = \(features) must be at least 1") }
        guard hidden >= 1 else { throw fail("hidden dimension m = \(hidden) must be at least 1") }
        guard sparsity >= 0, sparsity < 1 else { throw fail("sparsity S = \(sparsity) must be in [0, 1)") }
        guard importanceDecay > 0, importanceDecay <= 1 else {
            throw fail("importance decay r = \(importanceDecay) must be in (0, 1]")
        }
        guard steps >= 1 else { throw fail("steps = \(steps) must be at least 1") }
        guard batchSize >= 1 else { throw fail("batch size = \(batchSize) must be at least 1") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("learning rate = \(learningRate) must be positive") }
        // Batches and W live in memory as f32 arrays; beyond this they would not fit comfortably.
        let (values, overflow) = features.multipliedReportingOverflow(by: max(batchSize, hidden))
        guard !overflow, values <= 1 << 26 else {
            throw fail("features × max(batch, hidden) = \(features) × \(max(batchSize, hidden)) exceeds 2^26 values")
        }
    }
}

/// The toy model's parameters: h = W x, x̂ = ReLU(Wᵀ h + b), with W [m, n] row-major (column i
/// of W is feature i's direction in the hidden space) and b [n].
public struct ToyModel: Sendable, Equatable {
    public let features: Int
    public let hidden: Int
    public var weights: [Float]
    public var bias: [Float]

    public init(features: Int, hidden: Int, weights: [Float], bias: [Float]) {
        self.features = features
        self.hidden = hidden
        self.weights = weights
        self.bias = bias
    }

    /// Xavier-normal W (std √(2 / (n + m)), as torch's `xavier_normal_` in the paper's notebook), b = 0.
    public static func initial(features n: Int, hidden m: Int, random: inout SeededGenerator) -> ToyModel {
        let std = (2 / Float(n + m)).squareRoot()
        return ToyModel(features: n, hidden: m, weights: (0..<(m * n)).map { _ in random.normal() * std },
                        bias: [Float](repeating: 0, count: n))
    }

    /// Column i of W: feature i's direction.
    public func column(_ i: Int) -> [Float] { (0..<hidden).map { weights[$0 * features + i] } }

    /// One batch of synthetic inputs [rows, n]: each value is 0 with probability S, else uniform in [0, 1).
    public static func sampleBatch(rows: Int, features n: Int, sparsity: Double, random: inout SeededGenerator) -> [Float] {
        var x = [Float](repeating: 0, count: rows * n)
        for i in x.indices where Double.random(in: 0..<1, using: &random) >= sparsity {
            x[i] = Float.random(in: 0..<1, using: &random)
        }
        return x
    }

    /// The loss mean_b Σ_i I_i (x_bi − x̂_bi)² over a batch x [rows, n] and its gradients, derived
    /// by hand. With pre = H W + b, H = X Wᵀ and d = ∂L/∂pre = 2 I (x̂ − x) 1[pre > 0] / rows:
    /// ∂L/∂b = Σ_b d, and W gets a gradient through both of its uses,
    /// ∂L/∂W = Hᵀ d (decoder) + (d Wᵀ)ᵀ X (encoder) = [H; d Wᵀ]ᵀ [d; X], one product over 2·rows.
    /// The four batch products run on `backend`; the elementwise work stays on the host.
    public func lossAndGradients(_ x: [Float], rows: Int, importance: [Float],
                                 backend: any Backend) throws -> (loss: Double, weights: [Float], bias: [Float]) {
        let n = features, m = hidden
        guard importance.count == n else {
            throw LanternError.shapeMismatch(op: "toy model", detail: "\(importance.count) importances for \(n) features")
        }
        let (w, h, pre) = try forward(x, rows: rows, backend: backend)
        var d = [Float](repeating: 0, count: rows * n)
        var loss = 0.0
        let scale = 2 / Float(rows)
        for r in 0..<rows {
            var rowLoss: Float = 0
            for i in 0..<n {
                let p = pre[r * n + i]
                let error = max(p, 0) - x[r * n + i]
                rowLoss += importance[i] * error * error
                if p > 0 { d[r * n + i] = scale * importance[i] * error }
            }
            loss += Double(rowLoss)
        }
        var gradBias = [Float](repeating: 0, count: n)
        for r in 0..<rows { for i in 0..<n { gradBias[i] += d[r * n + i] } }

        let dt = try backend.matrix(d, rows: rows, cols: n)
        let dh = try backend.matmul(dt, w)                                       // [rows, m] = d Wᵀ
        let left = try backend.read(h) + backend.read(dh)                        // [2·rows, m]
        let right = d + x                                                        // [2·rows, n]
        let gradWeights = try backend.read(backend.matmul(
            backend.transpose(backend.matrix(left, rows: 2 * rows, cols: m)),
            backend.transpose(backend.matrix(right, rows: 2 * rows, cols: n))))  // [m, n]
        return (loss / Double(rows), gradWeights, gradBias)
    }

    /// The importance-weighted loss alone, mean_b Σ_i I_i (x_bi − x̂_bi)².
    public func loss(_ x: [Float], rows: Int, importance: [Float], backend: any Backend) throws -> Double {
        let n = features
        guard importance.count == n else {
            throw LanternError.shapeMismatch(op: "toy model", detail: "\(importance.count) importances for \(n) features")
        }
        let pre = try forward(x, rows: rows, backend: backend).pre
        var total = 0.0
        for r in 0..<rows {
            var rowLoss: Float = 0
            for i in 0..<n {
                let error = max(pre[r * n + i], 0) - x[r * n + i]
                rowLoss += importance[i] * error * error
            }
            total += Double(rowLoss)
        }
        return total / Double(rows)
    }

    /// pre = H W + b [rows, n] on the host, with H = X Wᵀ [rows, m] and W still on the backend
    /// for the backward pass.
    private func forward(_ x: [Float], rows: Int, backend: any Backend) throws -> (w: Tensor, h: Tensor, pre: [Float]) {
        let n = features
        guard x.count == rows * n else {
            throw LanternError.shapeMismatch(op: "toy model", detail: "batch of \(x.count) values for \(rows) × \(n)")
        }
        let w = try backend.matrix(weights, rows: hidden, cols: n)
        let h = try backend.matmul(backend.matrix(x, rows: rows, cols: n), w)
        var pre = try backend.read(backend.matmul(h, backend.transpose(w)))
        for r in 0..<rows { for i in 0..<n { pre[r * n + i] += bias[i] } }
        return (w, h, pre)
    }
}
