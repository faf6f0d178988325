import CIntrinsics
import LanternCore

/// The sparse SAE decode: acts · W_dec + bias, each output row the sum of the rows of W_dec
/// [d_sae, d_in] whose features fire, scaled by their activations (in feature order, one FMA per
/// weight), then the bias: ~d_in FMAs per active feature against d_in · d_sae for the dense
/// product, and the decoder is read only where it is used.
enum SparseDecode {
    static func nonzeroCount(_ values: UnsafePointer<Float>, count: Int) -> Int {
        var nonzero = 0
        forEachNonzero(values, count: count) { _ in nonzero += 1 }
        return nonzero
    }

    static func run(acts: UnsafePointer<Float>, rows: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                    out: UnsafeMutablePointer<Float>, n: Int, width: Int, dIn: Int) {
        let args = UncheckedBox((acts, rows, bias, out))
        Parallel.forRanges(n) { range in
            let (a, w, b, o) = args.value
            for r in range {
                let row = o + r * dIn
                row.update(repeating: 0, count: dIn)
                forEachNonzero(a + r * width, count: width) { j in
                    VectorMath.axpy(row, a[r * width + j], w + j * dIn, dIn)
                }
                for i in 0..<dIn { row[i] += b[i] }
            }
        }
    }

    /// `body(i)` for each i with values[i] ≠ 0, in order; each run of 16 is one compare into a
    /// bit mask, and only its set bits are visited (a TopK-64 row of 10,240 has nonzeros in at most 64 of its 640 runs).
    @inline(__always)
    static func forEachNonzero(_ values: UnsafePointer<Float>, count: Int, _ body: (Int) -> Void) {
        var i = 0
        while i + 16 <= count {
            var mask = lantern_mask_nonzero16(values + i)
            while mask != 0 {
                body(i + mask.trailingZeroBitCount)
                mask &= mask - 1
            }
            i += 16
        }
        while i < count { if values[i] != 0 { body(i) }; i += 1 }
    }
}
