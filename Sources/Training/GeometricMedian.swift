/// The geometric median of a set of points: the point minimising the sum of distances to them.
/// Gao et al. (2024) start the decoder bias there.
enum GeometricMedian {
    /// Weiszfeld's iteration from the mean: each step is the mean weighted by 1/distance.
    static func weiszfeld(_ points: [Float], rows n: Int, width d: Int, iterations: Int = 10) -> [Float] {
        var median = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { median[j] += Double(points[i * d + j]) / Double(n) } }
        for _ in 0..<iterations {
            var next = [Double](repeating: 0, count: d)
            var weightSum = 0.0
            for i in 0..<n {
                var squared = 0.0
                for j in 0..<d { let v = Double(points[i * d + j]) - median[j]; squared += v * v }
                let weight = 1 / max(squared.squareRoot(), 1e-8)
                weightSum += weight
                for j in 0..<d { next[j] += weight * Double(points[i * d + j]) }
            }
            median = next.map { $0 / weightSum }
        }
        return median.map { Float($0) }
    }
}
