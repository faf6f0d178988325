import Foundation
import LanternCore

/// Binary logistic regression with an L2 penalty, fitted exactly: the minimiser of
///
///     C · Σᵢ ωᵢ log(1 + exp(−sᵢ (w·xᵢ + b))) + ½‖w‖²      (sᵢ = ±1; the bias is not penalised)
///
/// — scikit-learn's `LogisticRegression(penalty="l2", C=C)` with sample weights ωᵢ (1 unless given;
/// `balancedWeights` gives `class_weight="balanced"`'s), which SAEBench's probes use — found by
/// damped Newton's method in double precision (the objective is strictly convex, so there is one
/// minimiser whatever the solver; `LogisticRegressionTests` checks it against scikit-learn's).
/// Meant for few features (k-sparse probes) up to a model's width: each step solves a
/// (d+1)-square system.
public struct LogisticRegression: Sendable, Equatable {
    public var weights: [Double]
    public var bias: Double

    /// Fits rows `x` [n, d] with labels `y` and, when given, per-row weights.
    public init(x: [Float], labels y: [Bool], width d: Int, c: Double = 1, sampleWeights: [Double]? = nil, iterations: Int = 100) throws {
        let n = y.count
        guard d > 0, n > 0, x.count == n * d else {
            throw LanternError.shapeMismatch(op: "logistic regression", detail: "\(x.count) values for \(n) rows of \(d)")
        }
        if let sampleWeights, sampleWeights.count != n || !sampleWeights.allSatisfy({ $0 >= 0 && $0.isFinite }) {
            throw LanternError.invalidArgument("logistic regression: \(sampleWeights.count) sample weights for \(n) rows, or one negative or not finite")
        }
        guard c > 0, c.isFinite else { throw LanternError.invalidArgument("logistic regression: C must be positive, got \(c)") }
        let m = d + 1  // the weights, then the bias
        var theta = [Double](repeating: 0, count: m)
        let xs = x.map(Double.init)
        /// The penalised loss at θ.
        func objective(_ theta: [Double]) -> Double {
            var total = 0.0
            for j in 0..<d { total += 0.5 * theta[j] * theta[j] }
            for i in 0..<n {
                var z = theta[d]
                for j in 0..<d { z += theta[j] * xs[i * d + j] }
                let margin = y[i] ? z : -z
                total += c * (sampleWeights?[i] ?? 1) * (margin > 0 ? log1p(exp(-margin)) : -margin + log1p(exp(margin)))
            }
            return total
        }
        for _ in 0..<iterations {
            var gradient = [Double](repeating: 0, count: m), hessian = [Double](repeating: 0, count: m * m)
            for j in 0..<d { gradient[j] = theta[j]; hessian[j * m + j] = 1 }
            hessian.withUnsafeMutableBufferPointer { hess in
                xs.withUnsafeBufferPointer { all in
                    for i in 0..<n {
                        let row = UnsafeBufferPointer(rebasing: all[(i * d)..<((i + 1) * d)])
                        var z = theta[d]
                        for j in 0..<d { z += theta[j] * row[j] }
                        let weight = c * (sampleWeights?[i] ?? 1)
                        let p = 1 / (1 + exp(-z)), r = weight * (p - (y[i] ? 1 : 0)), h = weight * p * (1 - p)
                        for j in 0..<d {
                            gradient[j] += r * row[j]
                            let hv = h * row[j]
                            for l in 0...j { hess[j * m + l] += hv * row[l] }
                            hess[d * m + j] += hv
                        }
                        gradient[d] += r
                        hess[d * m + d] += h
                    }
                }
            }
            for j in 0..<m { for l in (j + 1)..<m { hessian[j * m + l] = hessian[l * m + j] } }
            var step = try Self.solve(hessian, gradient, size: m)
            // Damped: the step is halved until the objective does not rise (far from the optimum,
            // with large inputs, a full Newton step can overshoot).
            let current = objective(theta)
            var trial = zip(theta, step).map { $0 - $1 }
            while objective(trial) > current + 1e-12 * abs(current), step.map(abs).max()! > 1e-14 {
                step = step.map { $0 / 2 }
                trial = zip(theta, step).map { $0 - $1 }
            }
            theta = trial
            if step.map(abs).max()! <= 1e-10 * max(1, theta.map(abs).max()!) { break }
        }
        weights = Array(theta.prefix(d))
        bias = theta[d]
    }

    /// scikit-learn's `class_weight="balanced"`: each row weighs n / (2 · the count of its label).
    public static func balancedWeights(_ y: [Bool]) -> [Double] {
        let positives = Double(y.filter { $0 }.count), negatives = Double(y.count) - positives, n = Double(y.count)
        return y.map { n / (2 * ($0 ? positives : negatives)) }
    }

    /// w·x + b for row i of `x`.
    public func score(_ x: [Float], row i: Int) -> Double {
        let d = weights.count
        var z = bias
        for j in 0..<d { z += weights[j] * Double(x[i * d + j]) }
        return z
    }

    /// Fraction of rows whose predicted class (w·x + b > 0) is their label.
    public func accuracy(x: [Float], labels y: [Bool]) -> Double {
        let d = weights.count
        var correct = 0
        for i in y.indices {
            var z = bias
            for j in 0..<d { z += weights[j] * Double(x[i * d + j]) }
            if (z > 0) == y[i] { correct += 1 }
        }
        return Double(correct) / Double(max(y.count, 1))
    }

    /// Solves the symmetric positive-definite system A·s = g (Cholesky, `RidgeSolve` without a ridge).
    static func solve(_ a: [Double], _ g: [Double], size m: Int) throws -> [Double] {
        do {
            return try RidgeSolve.solve(a, g, size: m, outputs: 1, ridge: 0)
        } catch let singular as RidgeSolve.Singular {
            throw LanternError.invalidArgument("logistic regression: the Hessian is not positive definite (column \(singular.column))")
        }
    }
}
