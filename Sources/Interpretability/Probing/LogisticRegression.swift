import Foundation
import LanternCore

/// Binary logistic regression with an L2 penalty, fitted exactly: the minimiser of
///
///     C · Σᵢ log(1 + exp(−sᵢ (w·xᵢ + b))) + ½‖w‖²      (sᵢ = ±1; the bias is not penalised)
///
/// — scikit-learn's `LogisticRegression(penalty="l2", C=C)`, which SAEBench's probes use — found by
/// Newton's method in double precision (the objective is strictly convex, so there is one
/// minimiser whatever the solver; `LogisticRegressionTests` checks it against scikit-learn's).
/// Meant for few features (k-sparse probes) up to a model's width: each step solves a
/// (d+1)-square system.
public struct LogisticRegression: Sendable, Equatable {
    public var weights: [Double]
    public var bias: Double

    /// Fits rows `x` [n, d] with labels `y`.
    public init(x: [Float], labels y: [Bool], width d: Int, c: Double = 1, iterations: Int = 100) throws {
        let n = y.count
        guard d > 0, n > 0, x.count == n * d else {
            throw LanternError.shapeMismatch(op: "logistic regression", detail: "\(x.count) values for \(n) rows of \(d)")
        }
        guard c > 0, c.isFinite else { throw LanternError.invalidArgument("logistic regression: C must be positive, got \(c)") }
        let m = d + 1  // the weights, then the bias
        var theta = [Double](repeating: 0, count: m)
        let xs = x.map(Double.init)
        for _ in 0..<iterations {
            var gradient = [Double](repeating: 0, count: m), hessian = [Double](repeating: 0, count: m * m)
            for j in 0..<d { gradient[j] = theta[j]; hessian[j * m + j] = 1 }
            for i in 0..<n {
                let row = xs[(i * d)..<((i + 1) * d)]
                var z = theta[d]
                for (j, v) in row.enumerated() { z += theta[j] * v }
                let p = 1 / (1 + exp(-z)), r = c * (p - (y[i] ? 1 : 0)), h = c * p * (1 - p)
                for (j, v) in row.enumerated() {
                    gradient[j] += r * v
                    let hv = h * v
                    for (l, u) in row.enumerated() where l <= j { hessian[j * m + l] += hv * u }
                    hessian[d * m + j] += hv
                }
                gradient[d] += r
                hessian[d * m + d] += h
            }
            for j in 0..<m { for l in (j + 1)..<m { hessian[j * m + l] = hessian[l * m + j] } }
            let step = try Self.solve(hessian, gradient, size: m)
            for j in 0..<m { theta[j] -= step[j] }
            if step.map(abs).max()! <= 1e-10 * max(1, theta.map(abs).max()!) { break }
        }
        weights = Array(theta.prefix(d))
        bias = theta[d]
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

    /// Solves the symmetric positive-definite system A·s = g by Cholesky decomposition.
    static func solve(_ a: [Double], _ g: [Double], size m: Int) throws -> [Double] {
        var l = [Double](repeating: 0, count: m * m)
        for j in 0..<m {
            var diagonal = a[j * m + j]
            for k in 0..<j { diagonal -= l[j * m + k] * l[j * m + k] }
            guard diagonal > 0 else { throw LanternError.invalidArgument("logistic regression: the Hessian is not positive definite (column \(j))") }
            let root = diagonal.squareRoot()
            l[j * m + j] = root
            for i in (j + 1)..<m {
                var s = a[i * m + j]
                for k in 0..<j { s -= l[i * m + k] * l[j * m + k] }
                l[i * m + j] = s / root
            }
        }
        var s = g
        for i in 0..<m { for k in 0..<i { s[i] -= l[i * m + k] * s[k] }; s[i] /= l[i * m + i] }
        for i in stride(from: m - 1, through: 0, by: -1) { for k in (i + 1)..<m { s[i] -= l[k * m + i] * s[k] }; s[i] /= l[i * m + i] }
        return s
    }
}
