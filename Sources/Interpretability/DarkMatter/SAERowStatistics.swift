import Foundation
import LanternCore

/// An SAE's reconstruction and firing figures over many activation rows (harvested activations,
/// no forward pass): L0, explained variance, and how often each latent fires, for the dead and
/// dense counts that need far more tokens than a cross-entropy evaluation can afford.
public struct SAERowStatistics: Sendable {
    public let dSAE: Int
    public private(set) var rows = 0
    public private(set) var l0Sum = 0.0
    public private(set) var reconstruction: ReconstructionStats
    public private(set) var firing: [Int]

    public init(dIn: Int, dSAE: Int) {
        self.dSAE = dSAE
        reconstruction = ReconstructionStats(width: dIn)
        firing = [Int](repeating: 0, count: dSAE)
    }

    /// Encodes and decodes `x` (rows of width d_in, in the model's units) and adds them.
    public mutating func add(_ x: [Float], sae: SAE) throws {
        let d = sae.dIn, n = x.count / d, b = sae.backend
        let acts = try sae.encode(try b.matrix(x, rows: n, cols: d))
        let xh = try b.read(try sae.decode(acts))
        let active = try sae.activeLatents(acts)
        for r in 0..<n {
            for (f, _) in active.row(r) { firing[Int(f)] += 1 }
            l0Sum += Double(active.count(r))
            reconstruction.add(x[(r * d)..<((r + 1) * d)], xh[(r * d)..<((r + 1) * d)])
        }
        rows += n
    }

    public var l0: Double { l0Sum / Double(max(rows, 1)) }
    public var explainedVariance: Double { reconstruction.explainedVariance }
    /// Fraction of rows each latent fired on.
    public var frequency: [Double] { firing.map { Double($0) / Double(max(rows, 1)) } }
    public var dead: Int { firing.filter { $0 == 0 }.count }
    public func dense(threshold: Double) -> Int { frequency.filter { $0 > threshold }.count }
}
