import LanternCore

/// Weights widened once to f32 in `PackedMatmul`'s panel layout, for the products that reuse them
/// (traces, lenses, harvests): panel p holds rows p·nr ..< (p+1)·nr, k-major ([k][nr], rows past
/// m zero), so any k slice of a panel is the contiguous block the register tile streams. The
/// values are exactly the dequantised weights.
extension PackedMatmul {
    static func panelCount(m: Int) -> Int { (m + nr - 1) / nr }

    static func widen<W: WeightLoad>(_: W.Type, _ w: UnsafeRawPointer, m: Int, k: Int, into panels: UnsafeMutablePointer<Float>) {
        fillPanels(m: m, k: k, panels) { j, column, stride in
            widenRow(W.self, w + j * k * W.elementBytes, k: k, column, stride)
        }
    }

    /// Fills every panel, `row(j, column, stride)` writing weight row j down a column (element kk
    /// at column[kk · stride]); rows past m are zero. Panels are filled on several threads.
    static func fillPanels(m: Int, k: Int, _ panels: UnsafeMutablePointer<Float>,
                           _ row: (Int, UnsafeMutablePointer<Float>, Int) -> Void) {
        withoutActuallyEscaping(row) { row in
            let args = UncheckedBox((row, panels))
            Parallel.forEach(panelCount(m: m)) { p in
                let (row, panels) = args.value
                let panel = panels + p * k * nr
                for c in 0..<nr {
                    let j = p * nr + c
                    if j < m {
                        row(j, panel + c, nr)
                    } else {
                        for kk in 0..<k { panel[kk * nr + c] = 0 }
                    }
                }
            }
        }
    }
}

extension QuantPackedMatmul {
    static func widen<B: SIMDBlockDecoder>(_: B.Type, _ w: UnsafeRawPointer, m: Int, k: Int, into panels: UnsafeMutablePointer<Float>) {
        let blocks = k / B.dtype.blockSize, rowBytes = blocks * B.dtype.blockBytes
        PackedMatmul.fillPanels(m: m, k: k, panels) { j, column, stride in
            // Scratch per row: rows are filled on several threads at once.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: B.dtype.blockSize) { scratch in
                decodeRow(B.self, w + j * rowBytes, blocks: blocks, column, stride, scratch: scratch.baseAddress!)
            }
        }
    }
}
