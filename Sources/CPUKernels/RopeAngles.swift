import Foundation
import LanternCore

/// cos θ and sin θ of every rotary pair at positions 0..<`positions`, for one set of RoPE
/// parameters, made once and kept. RoPE runs twice per layer (q and k) on every row, and working
/// the angles out again in double precision each time was 2–3% of a harvest. The values come from
/// the expression `Kernels.rope` used inline, so every result is unchanged, bit for bit.
final class RopeAngles: Sendable {
    /// Positions beyond this are worked out per call (the cos and sin tables take 1 MB per 1,024
    /// positions at a 256-wide head; Gemma 3 keeps two, for its local and global layers).
    static let maxPositions = 32_768

    let half: Int, positions: Int
    /// [positions, half], row-major.
    let cos: [Float], sin: [Float]

    init(invFreq: [Float], positions: Int) {
        half = invFreq.count
        self.positions = positions
        var c = [Float](repeating: 0, count: positions * half), s = c
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Double(Float(p) * invFreq[i])
                c[p * half + i] = Float(Foundation.cos(angle))
                s[p * half + i] = Float(Foundation.sin(angle))
            }
        }
        cos = c
        sin = s
    }

    private struct Key: Hashable {
        let theta: UInt32, positionScale: UInt32, rotaryDim: Int
    }

    nonisolated(unsafe) private static var tables: [Key: RopeAngles] = [:]
    private static let lock = NSLock()

    /// The table for `params` covering positions 0..<`end` (grown by doubling), or nil past
    /// `maxPositions`.
    static func table(for params: RopeParams, invFreq: [Float], covering end: Int) -> RopeAngles? {
        guard end <= maxPositions else { return nil }
        let key = Key(theta: params.theta.bitPattern, positionScale: params.positionScale.bitPattern, rotaryDim: params.rotaryDim)
        return lock.withLock {
            if let t = tables[key], t.positions >= end { return t }
            let positions = min(maxPositions, max(end, 2 * (tables[key]?.positions ?? 256)))
            let t = RopeAngles(invFreq: invFreq, positions: positions)
            tables[key] = t
            return t
        }
    }
}
