import CIntrinsics
import Foundation

/// Softmax statistics of rows of logits over a whole vocabulary (262 144 entries for Gemma),
/// eight lanes at a time: the logit lens reads ~20 such rows per prompt position, and a
/// cross-entropy needs one per position. Plain references with the same semantics live in the
/// tests (and in `LogitLens.cell`), in double precision.
///
/// Arithmetic: every exponential is an f32 `exp8` (≤ 2 ulp of expf over the range used), summed
/// in f32 lanes over runs of `run` entries and those partial sums in double, so a row's sum has
/// a relative error of about 1e-7 however long the row is.
public enum LogitStatistics {
    /// One row's normaliser: `max`, Σ exp(l − max) and Σ exp(l − max)·(l − max).
    public struct Summary: Sendable, Equatable {
        public var max: Float
        public var sumExp: Double
        public var weighted: Double

        public init(max: Float, sumExp: Double, weighted: Double) {
            (self.max, self.sumExp, self.weighted) = (max, sumExp, weighted)
        }

        /// log Σ exp(l).
        public var logSumExp: Double { Double(max) + log(sumExp) }
        /// −Σ p log p, in nats: log S − Σ e·(l − max) / S.
        public var entropy: Double { Swift.max(0, log(sumExp) - weighted / sumExp) }
        /// p(token) for a logit of this row: as `LogitLens.softmax` computes it (expf, then the
        /// double sum), not through the approximate exp8.
        public func probability(_ logit: Float) -> Float { Float(Double(Foundation.exp(logit - max)) / sumExp) }
    }

    @usableFromInline static let run = 1024

    /// The summary of one row (at least one entry). Inlinable, as `exp8` is: a wide kernel build
    /// that calls it (the KL divergence's normaliser) compiles it for its own vector units.
    @inlinable
    public static func summary(_ row: UnsafeBufferPointer<Float>) -> Summary {
        let top = maximum(row)
        var sum = 0.0, weighted = 0.0
        let base = row.baseAddress!
        var start = 0
        while start < row.count {
            let end = min(row.count, start + run)
            let (s, w) = partial(base + start, end - start, top)
            sum += s; weighted += w
            start = end
        }
        return Summary(max: top, sumExp: sum, weighted: weighted)
    }

    /// Σ exp(l − top) and Σ exp(l − top)·(l − top) over `count` entries, in f32 lanes.
    @inlinable @inline(__always)
    static func partial(_ p: UnsafePointer<Float>, _ count: Int, _ top: Float) -> (Double, Double) {
        var s = SIMD8<Float>(), w = SIMD8<Float>()
        let t = SIMD8<Float>(repeating: top)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= count {
            let x = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - t
            let e = exp8(x)
            s += e
            w += e * x
            i += 8
        }
        var ds = Double(s.sum()), dw = Double(w.sum())
        while i < count {
            let x = p[i] - top
            let e = Foundation.exp(x)
            ds += Double(e); dw += Double(e * x)
            i += 1
        }
        return (ds, dw)
    }

    /// The largest entry (the first row entry when all are equal).
    @inlinable
    public static func maximum(_ row: UnsafeBufferPointer<Float>) -> Float {
        let p = UnsafeRawPointer(row.baseAddress!)
        var m = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= row.count {
            let x = p.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            m = m.replacing(with: x, where: x .> m)  // (stdlib pointwiseMax is not inlined)
            i += 8
        }
        var top = m.max()
        while i < row.count { top = Swift.max(top, row[i]); i += 1 }
        return top
    }

    /// 1-based rank of entry `t`: entries above it, plus equal ones at lower indices (the order
    /// `Ranking.largest` lists them in).
    public static func rank(of t: Int, in row: UnsafeBufferPointer<Float>) -> Int {
        let value = row[t]
        let v = SIMD8<Float>(repeating: value)
        let p = UnsafeRawPointer(row.baseAddress!)
        let one = SIMD8<Int32>(repeating: 1), zero = SIMD8<Int32>()
        var above = zero
        var i = 0
        while i + 8 <= row.count {
            above &+= zero.replacing(with: one, where: p.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) .> v)
            i += 8
        }
        var count = Int(above.wrappedSum())
        while i < row.count { if row[i] > value { count += 1 }; i += 1 }
        // Ties before t rank above it.
        var ties = zero
        i = 0
        while i + 8 <= t {
            ties &+= zero.replacing(with: one, where: p.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) .== v)
            i += 8
        }
        count += Int(ties.wrappedSum())
        while i < t { if row[i] == value { count += 1 }; i += 1 }
        return count + 1
    }

    /// Indices of the `k` largest entries, largest first, ties to the lower index: the same list
    /// as `Ranking.largest`. For a wide k (an SAE's TopK-64 over 10,240 pre-activations), the
    /// ranking runs only over the entries at or above a floor that k entries are known to reach;
    /// otherwise over the whole row, with runs of eight entries below the current k-th skipped at once.
    public static func largest(_ k: Int, of row: UnsafeBufferPointer<Float>) -> [Int] {
        guard k > 0 else { return [] }
        if k >= 8, let floor = candidateFloor(k, of: row) {
            // Every entry below the floor has k entries above it, so the candidates (in index
            // order) hold the whole answer, and ranking them gives the row's own list.
            var candidates: [Int] = []
            candidates.reserveCapacity(4 * k)
            let p = row.baseAddress!
            var i = 0
            while i + 16 <= row.count {
                var mask = lantern_mask_at_least16(p + i, floor)
                while mask != 0 {
                    candidates.append(i + mask.trailingZeroBitCount)
                    mask &= mask - 1
                }
                i += 16
            }
            while i < row.count { if row[i] >= floor { candidates.append(i) }; i += 1 }
            return candidates.withUnsafeBufferPointer { ranked(k, of: row, among: $0) }
        }
        return ranked(k, of: row, among: nil)
    }

    /// A value that at least k entries of `row` reach, as high as cheaply found: the k-th largest
    /// of the maxima of 2k or more disjoint sets of entries (k different sets reach it). The sets
    /// are the 16 lanes of a vector maximum over each of ⌈2k / 16⌉ stretches of the row, so no
    /// horizontal reductions. Nil for a row too short to pay, or one holding a NaN (no floor
    /// orders it; the plain ranking keeps its behaviour there).
    static func candidateFloor(_ k: Int, of row: UnsafeBufferPointer<Float>) -> Float? {
        let stretches = (2 * k + 15) / 16, size = row.count / stretches / 16 * 16
        guard size >= 64 else { return nil }
        let p = UnsafeRawPointer(row.baseAddress!)
        var maxima = [Float](repeating: 0, count: 16 * stretches)
        var nan = SIMDMask<SIMD16<Int32>>(repeating: false)
        for s in 0..<stretches {
            var m = SIMD16<Float>(repeating: -.infinity)
            for i in stride(from: s * size, to: (s + 1) * size, by: 16) {
                let v = p.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                nan .|= v .!= v
                m.replace(with: v, where: v .> m)  // a compare and a blend (pointwiseMax is a scalar loop)
            }
            for lane in 0..<16 { maxima[16 * s + lane] = m[lane] }
        }
        // Entries past the last whole stretch take no part in the floor, but are still checked for NaN.
        for i in (stretches * size)..<row.count where row[i].isNaN { return nil }
        guard !any(nan) else { return nil }
        maxima.sort()
        return maxima[maxima.count - k]
    }

    /// `Ranking.largest` over `among` (ascending indices into `row`), or over all of `row`.
    private static func ranked(_ k: Int, of row: UnsafeBufferPointer<Float>, among: UnsafeBufferPointer<Int>?) -> [Int] {
        var best: [Int] = []
        best.reserveCapacity(k + 1)
        func offer(_ i: Int) {
            if best.count == k, row[i] <= row[best[k - 1]] { return }
            var at = best.count
            while at > 0, row[best[at - 1]] < row[i] { at -= 1 }
            best.insert(i, at: at)
            if best.count > k { best.removeLast() }
        }
        if let among {
            for i in among { offer(i) }
            return best
        }
        let p = UnsafeRawPointer(row.baseAddress!)
        var i = 0
        while i + 8 <= row.count {
            if best.count < k {
                for j in i..<(i + 8) { offer(j) }
            } else {
                let x = p.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                if any(x .> SIMD8<Float>(repeating: row[best[k - 1]])) {
                    for j in i..<(i + 8) { offer(j) }
                }
            }
            i += 8
        }
        while i < row.count { offer(i); i += 1 }
        return best
    }

    /// exp(x) for x ≤ 0 in eight f32 lanes (Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, a degree-6
    /// polynomial for e^r, 2^n put into the exponent bits). Below −87.3 the result is 0, as
    /// expf underflows there too; positive inputs are not used by the callers. Inlinable, so the
    /// kernels in other modules (GELU, SiLU, attention's softmax) get it inline, not as a call.
    @inlinable @inline(__always)
    public static func exp8(_ input: SIMD8<Float>) -> SIMD8<Float> {
        let floor = SIMD8<Float>(repeating: -87.3)
        let x = input.replacing(with: floor, where: input .< floor)
        // n = round(x / ln 2) through the 1.5·2²³ trick: the integer sits in the low mantissa bits.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let shifted = x * 1.442_695_04 + magic
        let n = shifted - magic
        var r = x - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var y = SIMD8<Float>(repeating: 1.987_569_15e-4)
        y = y * r + 1.398_199_950_7e-3
        y = y * r + 8.333_451_907_3e-3
        y = y * r + 4.166_579_589_4e-2
        y = y * r + 1.666_666_545_9e-1
        y = y * r + 5.000_000_120_1e-1
        y = y * (r * r) + r + 1
        // 2^n: n + 127 into the exponent field.
        let bits = (unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        let result = y * unsafeBitCast(bits, to: SIMD8<Float>.self)
        return result.replacing(with: 0, where: input .< -87.3)
    }

}
