import Foundation
import LanternCore

/// How a trained toy model lays its features out in the hidden space, in the paper's measures.
public struct ToyModelGeometry: Sendable, Equatable {
    /// ‖W_i‖ per feature: about 1 when the model represents feature i, about 0 when it drops it.
    public let norms: [Float]
    /// Σ_{j≠i} (Ŵ_i · W_j)² per feature: 0 when feature i has a dimension to itself, larger the
    /// more other features project onto its direction.
    public let superposition: [Float]
    /// WᵀW [n, n] row-major: the Gram matrix of the feature directions.
    public let gram: [Float]
    /// ‖W‖_F² / m, the inverse of the paper's dimensionality D* = m / ‖W‖_F². It counts features
    /// per dimension only while every kept feature has norm 1: kept features with larger norms push
    /// it past n / m, so `representedPerDimension` is printed beside it.
    public let frobeniusPerDimension: Double

    /// m, the hidden width.
    public let hidden: Int

    /// Norms below this count as "not represented" (the paper's figures draw such features faint).
    public static let representedNorm: Float = 0.5

    public var represented: Int { norms.filter { $0 >= Self.representedNorm }.count }

    /// Represented features (norm ≥ `representedNorm`) per hidden dimension: at most n / m.
    public var representedPerDimension: Double { Double(represented) / Double(hidden) }

    /// Whether feature i is represented (its superposition is only meaningful then: a dropped
    /// feature's direction is noise, and others' projections onto it say nothing).
    public func isRepresented(_ i: Int) -> Bool { norms[i] >= Self.representedNorm }

    /// `superposition` where it means something: nil for the features the model does not represent.
    public var representedSuperposition: [Float?] { superposition.indices.map { isRepresented($0) ? superposition[$0] : nil } }

    /// WᵀW on `backend` (one product of Wᵀ with itself), the rest from it on the host.
    public init(_ model: ToyModel, backend: any Backend) throws {
        let n = model.features, m = model.hidden
        let wt = try backend.transpose(backend.matrix(model.weights, rows: m, cols: n))   // [n, m]
        let gram = try backend.read(backend.matmul(wt, wt))                               // [n, n]
        let norms = (0..<n).map { gram[$0 * n + $0].squareRoot() }
        var measure = [Float](repeating: 0, count: n)
        for i in 0..<n where norms[i] > 0 {
            // (Ŵ_i · W_j)² = (W_i · W_j)² / ‖W_i‖².
            var sum: Float = 0
            for j in 0..<n where j != i { sum += gram[i * n + j] * gram[i * n + j] }
            measure[i] = sum / gram[i * n + i]
        }
        self.gram = gram
        self.norms = norms
        self.hidden = m
        superposition = measure
        frobeniusPerDimension = (0..<n).reduce(0.0) { $0 + Double(gram[$1 * n + $1]) } / Double(m)
    }

    /// Cosine of the angle between features i and j (0 when either direction is zero).
    public func cosine(_ i: Int, _ j: Int) -> Float {
        let n = norms.count
        guard norms[i] > 0, norms[j] > 0 else { return 0 }
        return gram[i * n + j] / (norms[i] * norms[j])
    }
}

extension ToyModel {
    /// For m = 2: each feature's angle in degrees in [0, 360), measured from the first hidden axis.
    public var angles: [Double]? {
        guard hidden == 2 else { return nil }
        return (0..<features).map { i in
            let degrees = atan2(Double(weights[features + i]), Double(weights[i])) * 180 / .pi
            return degrees < 0 ? degrees + 360 : degrees
        }
    }
}
