import CIntrinsics
import LanternCore

/// Prefill with quantised weights: `PackedMatmul`'s packed GEMM (6 × `nr` register tile, k-major
/// weight panels in L1), with each panel filled by decoding the weights' blocks instead of
/// widening 16-bit floats. `PackedMatmul.kc` (256) is a multiple of every block size, so each
/// k slice covers whole blocks. On AVX-512, types whose decoders give k order decode 16 rows side
/// by side and transpose them into the panel (`fillTransposed`); the others decode a row's slice
/// into a small buffer, then spread it into the panel's column.
enum QuantPackedMatmul {
    static func run<B: SIMDBlockDecoder>(_: B.Type, x: UnsafePointer<Float>, w: UnsafeRawPointer,
                                         out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let mr = PackedMatmul.mr, nr = PackedMatmul.nr, kc = PackedMatmul.kc, nc = PackedMatmul.taskRows(m)
        let blockSize = B.dtype.blockSize, blockBytes = B.dtype.blockBytes
        precondition(kc % blockSize == 0 && k % blockSize == 0)
        let rowBytes = k / blockSize * blockBytes

        let tiles = (n + mr - 1) / mr
        let packedX = PackedMatmul.packActivations(x, n: n, k: k)
        defer { packedX.deallocate() }

        let tasks = (m + nc - 1) / nc
        let args = UncheckedBox((packedX, w, out))
        Parallel.forEach(tasks) { task in
            let (packedX, w, out) = args.value
            let j0 = task * nc, j1 = min(m, j0 + nc)
            let panels = (j1 - j0 + nr - 1) / nr
            let packedW = UnsafeMutablePointer<Float>.allocate(capacity: panels * kc * nr)
            defer { packedW.deallocate() }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * kc) { slice in
                let decoded = slice.baseAddress!
                var k0 = 0
                while k0 < k {
                    let depth = min(kc, k - k0)
                    for p in 0..<panels {
                        let dst = packedW + p * kc * nr
                        #if LANTERN_AVX512
                        if !B.readsBlockOrder {
                            fillTransposed(B.self, w, rowBytes: rowBytes, firstRow: j0 + p * nr, endRow: j1, k0: k0, depth: depth,
                                           dst, rows16: decoded)
                            continue
                        }
                        #endif
                        for c in 0..<nr {
                            let j = j0 + p * nr + c
                            if j < j1 {
                                decodeRow(B.self, w + j * rowBytes + k0 / blockSize * blockBytes, blocks: depth / blockSize,
                                          dst + c, nr, scratch: decoded)
                            } else {
                                for kk in 0..<depth { dst[kk * nr + c] = 0 }
                            }
                        }
                    }
                    // Panel outer, activation tiles inner: the panel (kc × nr floats) stays in L1 while the
                    // small activation tiles stream past it from L2.
                    for p in 0..<panels {
                        let cols = min(nr, j1 - j0 - p * nr), panel = packedW + p * kc * nr
                        for t in 0..<tiles {
                            let a = packedX + t * k * mr + k0 * mr
                            tile(a, panel, depth, out + t * mr * m + j0 + p * nr, m, min(mr, n - t * mr), cols, k0 == 0)
                        }
                    }
                    k0 += depth
                }
            }
        }
    }

    #if LANTERN_AVX512
    /// One panel's k slice, 16 columns at a time: 16 weight rows decoded side by side into
    /// `rows16` ([16][depth], in k order), then put into the panel's k-major layout by 16 × 16
    /// transposes (a 128-token trace of the default model: 0.43–0.45 → 0.41 s against spreading
    /// each decoded float into its column one store at a time). Rows from `endRow` on are zero.
    @inline(__always)
    static func fillTransposed<B: SIMDBlockDecoder>(_: B.Type, _ w: UnsafeRawPointer, rowBytes: Int, firstRow: Int, endRow: Int,
                                                    k0: Int, depth: Int, _ panel: UnsafeMutablePointer<Float>,
                                                    rows16: UnsafeMutablePointer<Float>) {
        let blockSize = B.dtype.blockSize, blockBytes = B.dtype.blockBytes, nr = PackedMatmul.nr
        for c0 in stride(from: 0, to: nr, by: 16) {
            for r in 0..<16 {
                let j = firstRow + c0 + r, row = rows16 + r * depth
                guard j < endRow else { row.update(repeating: 0, count: depth); continue }
                let src = w + j * rowBytes + k0 / blockSize * blockBytes
                for b in 0..<(depth / blockSize) { B.decode(src + b * blockBytes, row + b * blockSize) }
            }
            PackedMatmul.transposeRows16(rows16, depth: depth, into: panel + c0)
        }
    }
    #endif

    /// Decodes `blocks` blocks of one weight row down a panel column (weight kk at
    /// column[kk · stride]), through `scratch` (one block's floats).
    @inline(__always)
    static func decodeRow<B: SIMDBlockDecoder>(_: B.Type, _ src: UnsafeRawPointer, blocks: Int,
                                               _ column: UnsafeMutablePointer<Float>, _ stride: Int,
                                               scratch: UnsafeMutablePointer<Float>) {
        let blockSize = B.dtype.blockSize, blockBytes = B.dtype.blockBytes
        for b in 0..<blocks {
            let out = column + blockSize * b * stride
            if B.readsBlockOrder {
                // Decoded in lane order (in each 32 weights, position 8r + i is weight 4i + r),
                // put back in k order as the column is filled.
                B.decodeBlockOrder(src + b * blockBytes, scratch)
                for g in 0..<(blockSize / 32) {
                    let group = out + 32 * g * stride, lanes = scratch + 32 * g
                    for r in 0..<4 {
                        for i in 0..<8 { group[(4 * i + r) * stride] = lanes[8 * r + i] }
                    }
                }
            } else {
                B.decode(src + b * blockBytes, scratch)
                for kk in 0..<blockSize { out[kk * stride] = scratch[kk] }
            }
        }
    }

    /// PackedMatmul's register tile in a function of its own: inlined into the decoding loop
    /// above, its 12 accumulators were spilled to the stack (2-3× slower).
    @inline(never)
    static func tile(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ depth: Int,
                     _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _ rows: Int, _ cols: Int, _ first: Bool,
                     ahead: UnsafeRawPointer? = nil, lines: Int = 0) {
        PackedMatmul.tile(a, b, depth, out, ldo, rows, cols, first, ahead: ahead, lines: lines)
    }
}
