import CIntrinsics
import LanternCore

/// Decode's product for bf16 and f16 weights (n < `fewerThan` activation rows): each weight row is
/// read once, straight from the stored row, against every activation row, 16 lanes at a time into
/// two accumulators (on AVX-512 each 16 weights one vpmovzxwd and shift, or one vcvtph2ps), with
/// the row `prefetchRows` ahead fetched line by line (the hardware prefetcher stops at every 4 KiB
/// page of a mapped file). `Matmul`'s 8-lane register tiles, which this replaces for so few rows,
/// read bf16 at about a quarter of a streaming read; f32 rows, which are bound by memory alone,
/// stay on those tiles (three rows at a time kept them ~10% faster there). Each output is the same
/// sum of exact products in another association (the kernel tests hold it to a double-precision sum).
enum FloatRowDot {
    static let fewerThan = 4
    static let prefetchRows = 4

    static func run<W: WeightLoad>(_: W.Type, x: UnsafePointer<Float>, w: UnsafeRawPointer,
                                   out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let args = UncheckedBox((x, w, out))
        Parallel.forRanges(m, minChunk: 16, oversplit: 8) { rows in
            let (x, w, out) = args.value
            dotRows(W.self, w, rows: rows, x: x, out: out, n: n, k: k, m: m)
        }
    }

    /// One function per weight type with the dot inlined, so its set-up is paid once per range.
    @inline(never)
    static func dotRows<W: WeightLoad>(_: W.Type, _ w: UnsafeRawPointer, rows: Range<Int>, x: UnsafePointer<Float>,
                                       out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let rowBytes = k * W.elementBytes
        for j in rows {
            if j + prefetchRows < rows.upperBound { Kernels.prefetchLines(w + (j + prefetchRows) * rowBytes, bytes: rowBytes) }
            for i in 0..<n { out[i * m + j] = dot(W.self, w + j * rowBytes, x + i * k, k) }
        }
    }

    @inline(__always)
    static func dot<W: WeightLoad>(_: W.Type, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ k: Int) -> Float {
        var a = SIMD16<Float>(), b = SIMD16<Float>()
        var kk = 0
        while kk + 32 <= k {
            a.addProduct(load16(x, kk), W.load16(row, kk))
            b.addProduct(load16(x, kk + 16), W.load16(row, kk + 16))
            kk += 32
        }
        if kk + 16 <= k {
            a.addProduct(load16(x, kk), W.load16(row, kk))
            kk += 16
        }
        let s16 = a + b, s8 = s16.lowHalf + s16.highHalf
        var s = Kernels.laneSum(s8)
        while kk < k { s.addProduct(x[kk], W.load1(row, kk)); kk += 1 }
        return s
    }

    @inline(__always) static func load16(_ x: UnsafePointer<Float>, _ at: Int) -> SIMD16<Float> {
        UnsafeRawPointer(x + at).loadUnaligned(as: SIMD16<Float>.self)
    }
}
