import Foundation

/// How the unexplained remainder shrinks as SAEs grow: the fit FVU(w) ≈ a·w^(−b) + c over SAEs of
/// widths w (Olah's "dark matter" note; Engels et al. 2024 fit the same form). c is the floor a
/// wider SAE of this kind would not go below — the part of the dark matter that does not look
/// like "more, rarer features".
public struct ScalingFit: Sendable, Equatable {
    public let a: Double
    public let b: Double
    public let c: Double
    /// Root-mean-square error of the fit in log FVU.
    public let rmsLogError: Double

    public func predict(_ width: Double) -> Double { a * pow(width, -b) + c }

    /// Least squares in log FVU: for each candidate floor c on a fine grid in [0, min FVU), a and b
    /// come from a straight-line fit of log(FVU − c) against log w; the c with the smallest error
    /// wins. Needs at least three points with positive widths and FVUs in (0, ∞).
    public static func fit(widths: [Double], fvu: [Double]) -> ScalingFit? {
        let points = zip(widths, fvu).filter { $0.0 > 0 && $0.1 > 0 && $0.1.isFinite && $0.0.isFinite }
        guard points.count >= 3, let smallest = points.map(\.1).min() else { return nil }
        var best: ScalingFit?
        let steps = 2000
        for i in 0..<steps {
            // c from 0 up to 99.9% of the smallest FVU, denser near the top where floors sit.
            let c = smallest * 0.999 * (1 - pow(1 - Double(i) / Double(steps), 2))
            guard let line = logLine(points.map { (log($0.0), log($0.1 - c)) }) else { continue }
            let candidate = ScalingFit(a: exp(line.intercept), b: -line.slope, c: c, rmsLogError: 0)
            let error = (points.map { p in pow(log(candidate.predict(p.0)) - log(p.1), 2) }.reduce(0, +) / Double(points.count)).squareRoot()
            if best == nil || error < best!.rmsLogError {
                best = ScalingFit(a: candidate.a, b: candidate.b, c: c, rmsLogError: error)
            }
        }
        return best
    }

    static func logLine(_ p: [(Double, Double)]) -> (slope: Double, intercept: Double)? {
        let n = Double(p.count)
        let mx = p.map(\.0).reduce(0, +) / n, my = p.map(\.1).reduce(0, +) / n
        let sxx = p.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
        guard sxx > 0 else { return nil }
        let slope = p.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +) / sxx
        return (slope, my - slope * mx)
    }
}
