import Foundation
import LanternCore

/// Binary logistic regression with an L1 (and a small L2) penalty on the weights, fitted to its
/// optimum: the minimiser of
///
///     (1/n) Σᵢ ωᵢ log(1 + exp(−sᵢ (w·xᵢ + b))) + λ‖w‖₁ + ½μ‖w‖²      (the bias is not penalised)
///
/// by accelerated proximal gradient descent (FISTA with backtracking and adaptive restart) in
/// double precision. Meant for wide, sparse inputs (SAE latents): rows are kept as their nonzero
/// entries. `SparseLogisticRegressionTests` holds it to scikit-learn's elastic-net fit.
public struct SparseLogisticRegression: Sendable {
    public var weights: [Double]
    public var bias: Double
    /// The gradient of the smooth part (the weighted loss and the L2 term) at the solution: for a
    /// weight at zero, how strongly the loss pulls it (negative: towards a positive weight).
    public var gradient: [Double]
    /// Proximal steps taken.
    public var iterations: Int

    /// Fits rows `x` [n, d] with labels `y` and, when given, per-row weights ω (1 otherwise).
    public init(x: [Float], labels y: [Bool], width d: Int, l1: Double, l2: Double = 0, sampleWeights: [Double]? = nil,
                maxIterations: Int = 20_000, tolerance: Double = 1e-10) throws {
        let n = y.count
        guard d > 0, n > 0, x.count == n * d else {
            throw LanternError.shapeMismatch(op: "sparse logistic regression", detail: "\(x.count) values for \(n) rows of \(d)")
        }
        guard l1 >= 0, l2 >= 0, l1.isFinite, l2.isFinite else {
            throw LanternError.invalidArgument("sparse logistic regression: the penalties must be finite and ≥ 0, got \(l1) and \(l2)")
        }
        if let sampleWeights, sampleWeights.count != n || !sampleWeights.allSatisfy({ $0 >= 0 && $0.isFinite }) {
            throw LanternError.invalidArgument("sparse logistic regression: \(sampleWeights.count) sample weights for \(n) rows, or one negative or not finite")
        }
        // Rows as (column, value) pairs.
        var starts = [0], columns: [Int32] = [], values: [Double] = []
        for i in 0..<n {
            for j in 0..<d where x[i * d + j] != 0 { columns.append(Int32(j)); values.append(Double(x[i * d + j])) }
            starts.append(columns.count)
        }
        let omega = (sampleWeights ?? [Double](repeating: 1, count: n)).map { $0 / Double(n) }
        let signs = y.map { $0 ? 1.0 : -1.0 }

        /// The smooth part's value and, if asked, its gradient (weights, then bias) at (w, b).
        func smooth(_ w: [Double], _ b: Double, gradient: inout [Double]?) -> Double {
            var f = 0.5 * l2 * w.reduce(0) { $0 + $1 * $1 }
            var g: [Double]? = gradient == nil ? nil : w.map { l2 * $0 } + [0]
            for i in 0..<n {
                var z = b
                for e in starts[i]..<starts[i + 1] { z += w[Int(columns[e])] * values[e] }
                let m = signs[i] * z
                f += omega[i] * (m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m)))
                if g != nil {
                    let r = -omega[i] * signs[i] / (1 + exp(m))  // ∂/∂z of ωᵢ·loss
                    for e in starts[i]..<starts[i + 1] { g![Int(columns[e])] += r * values[e] }
                    g![d] += r
                }
            }
            gradient = g
            return f
        }
        /// The proximal step from y along −g/L: soft-thresholding on the weights, plain on the bias.
        func prox(_ y: [Double], _ g: [Double], _ lipschitz: Double) -> [Double] {
            var out = y
            let t = l1 / lipschitz
            for j in 0..<d {
                let v = y[j] - g[j] / lipschitz
                out[j] = v > t ? v - t : (v < -t ? v + t : 0)
            }
            out[d] = y[d] - g[d] / lipschitz
            return out
        }

        var theta = [Double](repeating: 0, count: d + 1), previous = theta, point = theta
        var momentum = 1.0, lipschitz = 1e-3, taken = 0
        for step in 1...maxIterations {
            taken = step
            var g: [Double]? = []
            let fy = smooth(Array(point.prefix(d)), point[d], gradient: &g)
            var next = point
            while true {
                next = prox(point, g!, lipschitz)
                var none: [Double]? = nil
                let fNext = smooth(Array(next.prefix(d)), next[d], gradient: &none)
                var bound = fy
                for j in 0...d { let delta = next[j] - point[j]; bound += g![j] * delta + 0.5 * lipschitz * delta * delta }
                if fNext <= bound + 1e-15 * abs(fy) { break }
                lipschitz *= 2
            }
            let change = zip(next, theta).map { abs($0 - $1) }.max()!
            // Restart the momentum when the step goes against the last one (O'Donoghue & Candès).
            var dot = 0.0
            for j in 0...d { dot += (point[j] - next[j]) * (next[j] - theta[j]) }
            previous = theta
            theta = next
            if dot > 0 {
                momentum = 1
                point = theta
            } else {
                let following = (1 + (1 + 4 * momentum * momentum).squareRoot()) / 2
                let beta = (momentum - 1) / following
                point = (0...d).map { theta[$0] + beta * (theta[$0] - previous[$0]) }
                momentum = following
            }
            lipschitz *= 0.9  // let the step grow back
            if change <= tolerance * max(1, theta.map(abs).max()!) && step > 1 { break }
        }
        var g: [Double]? = []
        _ = smooth(Array(theta.prefix(d)), theta[d], gradient: &g)
        weights = Array(theta.prefix(d))
        bias = theta[d]
        gradient = Array(g!.prefix(d))
        iterations = taken
    }

    /// The inputs in order of how much they speak for the positive class: positive weights largest
    /// first, then the zero weights by how strongly the loss pulls them up (the order in which they
    /// would enter as λ shrinks), then the negative weights; ties by index.
    public func ranking() -> [Int] {
        weights.indices.sorted { a, b in
            let wa = weights[a], wb = weights[b]
            if wa != wb { return wa > wb }
            if wa == 0, gradient[a] != gradient[b] { return gradient[a] < gradient[b] }
            return a < b
        }
    }
}
