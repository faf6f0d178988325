/// Per-column mean and (population) standard deviation of a row-major matrix, accumulated in
/// double precision: what per-dimension normalisation (SAE training, the linear error fit) needs.
public enum ColumnMoments {
    public static func meanAndDeviation(_ x: [Float], rows m: Int, width d: Int) -> (mean: [Double], deviation: [Double]) {
        let n = Double(max(m, 1))
        var mean = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
        for r in 0..<m { for j in 0..<d { mean[j] += Double(x[r * d + j]) } }
        for j in 0..<d { mean[j] /= n }
        for r in 0..<m { for j in 0..<d { let c = Double(x[r * d + j]) - mean[j]; squares[j] += c * c } }
        return (mean, squares.map { ($0 / n).squareRoot() })
    }
}
