import Foundation
import LanternCore

/// How much of an SAE's error a linear map of the input predicts (Engels et al. 2024,
/// "Decomposing the dark matter of sparse autoencoders"): e = x − x̂ regressed on x (with an
/// intercept) by least squares on one set of rows, scored on another. The predictable part is
/// dark matter that is still linear in x — in reach of a bigger or better SAE; the rest is not.
public struct LinearErrorPrediction: Sendable {
    public let width: Int
    /// Per-dimension centre and 1/scale of x, for a well-conditioned normal matrix (Gemma's
    /// residual has dimensions 100× the others).
    let shift: [Float]
    let inverseScale: [Float]
    private var gram: [Double]   // (d+1)², ZᵀZ with Z = [standardised x, 1]
    private var cross: [Double]  // (d+1)·d, ZᵀE
    public private(set) var fittedRows = 0
    private var map: [Float]?    // (d+1)·d, the solution M of (ZᵀZ + λI) M = ZᵀE
    public private(set) var scoredRows = 0
    public private(set) var errorSquares = 0.0
    public private(set) var residualSquares = 0.0

    /// `sample` (rows of x) sets the standardisation only.
    public init(width d: Int, sample: [Float]) {
        width = d
        let (mean, deviation) = ColumnMoments.meanAndDeviation(sample, rows: sample.count / d, width: d)
        shift = mean.map(Float.init)
        inverseScale = deviation.map { $0 > 0 ? Float(1 / $0) : 1 }
        gram = [Double](repeating: 0, count: (d + 1) * (d + 1))
        cross = [Double](repeating: 0, count: (d + 1) * d)
    }

    /// Z = [(x − shift) ⊙ inverseScale, 1] as a [n, d+1] matrix.
    func design(_ x: [Float]) -> [Float] {
        let d = width, n = x.count / d
        var z = [Float](repeating: 1, count: n * (d + 1))
        for r in 0..<n { for j in 0..<d { z[r * (d + 1) + j] = (x[r * d + j] - shift[j]) * inverseScale[j] } }
        return z
    }

    /// Adds rows x and their SAE errors e = x − x̂ to the normal equations.
    public mutating func fit(x: [Float], error e: [Float], backend: any Backend) throws {
        let d = width, n = x.count / d
        let zt = try backend.transpose(try backend.matrix(design(x), rows: n, cols: d + 1))
        let et = try backend.transpose(try backend.matrix(e, rows: n, cols: d))
        let g = try backend.read(try backend.matmul(zt, zt)), c = try backend.read(try backend.matmul(zt, et))
        for i in gram.indices { gram[i] += Double(g[i]) }
        for i in cross.indices { cross[i] += Double(c[i]) }
        fittedRows += n
        map = nil
    }

    /// Solves for the map (Cholesky, with a ridge of 1e-6 of the mean diagonal for safety).
    public mutating func solve() throws {
        let m = width + 1
        let beta: [Double]
        do {
            beta = try RidgeSolve.solve(gram, cross, size: m, outputs: width, ridge: 1e-6)
        } catch is RidgeSolve.Singular {
            throw LanternError.invalidArgument("the linear error fit is singular (too few rows: \(fittedRows))")
        }
        let solution = beta.map(Float.init)
        map = solution
    }

    /// Scores held-out rows: adds Σ‖e‖² and Σ‖e − ê‖², ê = Z·M.
    public mutating func score(x: [Float], error e: [Float], backend: any Backend) throws {
        if map == nil { try solve() }
        let d = width, n = x.count / d
        let z = try backend.matrix(design(x), rows: n, cols: d + 1)
        let mt = try backend.transpose(try backend.matrix(map!, rows: d + 1, cols: d))
        let predicted = try backend.read(try backend.matmul(z, mt))
        for i in 0..<(n * d) {
            errorSquares += Double(e[i]) * Double(e[i])
            let r = Double(e[i]) - Double(predicted[i])
            residualSquares += r * r
        }
        scoredRows += n
    }

    /// Share of the error's squared norm that the linear map predicts, on the scored rows.
    public var predictableFraction: Double { errorSquares > 0 ? 1 - residualSquares / errorSquares : 0 }
}
