/// The normal equations of a ridge regression, solved by Cholesky in Float64: β [size, outputs]
/// with (A + λ·mean(diag A)·I) β = B, for a symmetric positive semi-definite A [size, size] (XᵀX)
/// and B [size, outputs] (XᵀY). The linear part of an SAE's error and a tuned lens's least-squares
/// start are both fits of this kind.
public enum RidgeSolve {
    /// A zero or negative pivot after the ridge: the system has too little data for its size.
    public struct Singular: Error {
        public let column: Int
    }

    public static func solve(_ a: [Double], _ rhs: [Double], size n: Int, outputs m: Int, ridge: Double) throws -> [Double] {
        var l = a
        let shift = ridge * (0..<n).reduce(0) { $0 + a[$1 * n + $1] } / Double(n)
        for i in 0..<n { l[i * n + i] += shift }
        // In place: l = L Lᵀ, L in the lower triangle.
        for j in 0..<n {
            var diagonal = l[j * n + j]
            for k in 0..<j { diagonal -= l[j * n + k] * l[j * n + k] }
            guard diagonal > 0 else { throw Singular(column: j) }
            let root = diagonal.squareRoot()
            l[j * n + j] = root
            for i in (j + 1)..<n {
                var v = l[i * n + j]
                for k in 0..<j { v -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = v / root
            }
        }
        // Row by row over all right-hand sides at once (the inner loops run along a row of β).
        var beta = rhs
        for i in 0..<n {  // L z = B
            for k in 0..<i where l[i * n + k] != 0 {
                let f = l[i * n + k]
                for col in 0..<m { beta[i * m + col] -= f * beta[k * m + col] }
            }
            let inverse = 1 / l[i * n + i]
            for col in 0..<m { beta[i * m + col] *= inverse }
        }
        for i in stride(from: n - 1, through: 0, by: -1) {  // Lᵀ β = z
            for k in (i + 1)..<n where l[k * n + i] != 0 {
                let f = l[k * n + i]
                for col in 0..<m { beta[i * m + col] -= f * beta[k * m + col] }
            }
            let inverse = 1 / l[i * n + i]
            for col in 0..<m { beta[i * m + col] *= inverse }
        }
        return beta
    }
}
