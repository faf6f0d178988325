import CIntrinsics
import LanternCore

/// The packed GEMM's activations: [n, k] row-major → [tile][k][mr], `mr` rows per tile, rows past
/// n zero so every tile is full. Every product of many rows packs its input once, so this runs for
/// every weight of every block: moved one float at a time, with a store for each, it was ~5% of a
/// harvest on the vector path.
extension PackedMatmul {
    /// The caller deallocates.
    static func packActivations(_ x: UnsafePointer<Float>, n: Int, k: Int) -> UnsafeMutablePointer<Float> {
        let tiles = (n + mr - 1) / mr
        let packedX = UnsafeMutablePointer<Float>.allocate(capacity: tiles * k * mr)
        let xArgs = UncheckedBox((x, packedX))
        Parallel.forRanges(tiles) { range in
            let (x, packedX) = xArgs.value
            for t in range { packTile(x, n: n, k: k, tile: t, into: packedX + t * k * mr) }
        }
        return packedX
    }

    /// One tile: `dst[kk · mr + r]` = row t·mr + r, column kk (0 past row n).
    @inline(__always)
    static func packTile(_ x: UnsafePointer<Float>, n: Int, k: Int, tile t: Int, into dst: UnsafeMutablePointer<Float>) {
        let rows = min(mr, n - t * mr)
        var kk = 0
        #if LANTERN_AVX512
        if mr == 6 {
            // 16 columns of the six rows at a time: six loads, six stores of 16 interleaved floats.
            let first = x + t * mr * k
            @inline(__always) func columns(_ r: Int) -> SIMD16<Float> {
                r < rows ? UnsafeRawPointer(first + r * k + kk).loadUnaligned(as: SIMD16<Float>.self) : .zero
            }
            PackIndices.table.withUnsafeBufferPointer { table in
                while kk + 16 <= k {
                    let v0 = columns(0), v1 = columns(1), v2 = columns(2), v3 = columns(3), v4 = columns(4), v5 = columns(5)
                    let out = UnsafeMutableRawPointer(dst + kk * 6)
                    for j in 0..<6 {
                        let e = table[j]
                        let o = lantern_lookup32(v0, v1, e.from01)
                            .replacing(with: lantern_lookup32(v2, v3, e.from23), where: e.rows23)
                            .replacing(with: lantern_lookup32(v4, v5, e.from45), where: e.rows45)
                        out.storeBytes(of: o, toByteOffset: j * 64, as: SIMD16<Float>.self)
                    }
                    kk += 16
                }
            }
        }
        #endif
        // The rest (and every column on other builds), each row's floats written in order.
        while kk < k {
            let o = dst + kk * mr
            for r in 0..<mr { o[r] = r < rows ? x[(t * mr + r) * k + kk] : 0 }
            kk += 1
        }
    }

    /// The plain form, for tests: one float at a time.
    static func packActivationsReference(_ x: UnsafePointer<Float>, n: Int, k: Int) -> [Float] {
        let tiles = (n + mr - 1) / mr
        var packed = [Float](repeating: 0, count: tiles * k * mr)
        for t in 0..<tiles {
            for r in 0..<mr where t * mr + r < n {
                for kk in 0..<k { packed[t * k * mr + kk * mr + r] = x[(t * mr + r) * k + kk] }
            }
        }
        return packed
    }
}

#if LANTERN_AVX512
/// For output vector j of a 16-column chunk (floats 16j..<16j+16 of the 96, float f being row
/// f mod 6 at column f / 6): where each lane comes from in the row pairs (0, 1), (2, 3), (4, 5)
/// (vpermt2ps indices: column, or 16 + column for the pair's second row), and which pair it takes.
struct PackIndices {
    let from01: SIMD16<UInt32>, from23: SIMD16<UInt32>, from45: SIMD16<UInt32>
    let rows23: SIMDMask<SIMD16<Int32>>, rows45: SIMDMask<SIMD16<Int32>>

    static let table: [PackIndices] = (0..<6).map { j in
        var from = [SIMD16<UInt32>](repeating: .zero, count: 3)
        var rows23 = SIMDMask<SIMD16<Int32>>(), rows45 = SIMDMask<SIMD16<Int32>>()
        for lane in 0..<16 {
            let f = 16 * j + lane, r = f % 6, column = UInt32(f / 6)
            from[r / 2][lane] = r % 2 == 0 ? column : 16 + column
            rows23[lane] = r / 2 == 1
            rows45[lane] = r / 2 == 2
        }
        return PackIndices(from01: from[0], from23: from[1], from45: from[2], rows23: rows23, rows45: rows45)
    }
}
#endif
