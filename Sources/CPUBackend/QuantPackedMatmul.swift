import LanternCore

/// Prefill with quantised weights: `PackedMatmul`'s packed GEMM (6 × `nr` register tile, k-major
/// weight panels in L1), with each panel filled by decoding the weights' blocks instead of
/// widening 16-bit floats. `PackedMatmul.kc` (256) is a multiple of every block size, so each
/// k slice covers whole blocks; a row's slice is decoded into a small buffer, then spread into
/// the panel's column.
enum QuantPackedMatmul {
    static func run<B: SIMDBlockDecoder>(_: B.Type, x: UnsafePointer<Float>, w: UnsafeRawPointer,
                                         out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let mr = PackedMatmul.mr, nr = PackedMatmul.nr, kc = PackedMatmul.kc, nc = PackedMatmul.taskRows(m)
        let blockSize = B.dtype.blockSize, blockBytes = B.dtype.blockBytes
        precondition(kc % blockSize == 0 && k % blockSize == 0)
        let rowBytes = k / blockSize * blockBytes

        // Activations → [tile][k][mr], zero rows past n so every tile is full.
        let tiles = (n + mr - 1) / mr
        let packedX = UnsafeMutablePointer<Float>.allocate(capacity: tiles * k * mr)
        defer { packedX.deallocate() }
        let xArgs = UncheckedBox((x, packedX))
        Parallel.forRanges(tiles) { range in
            let (x, packedX) = xArgs.value
            for t in range {
                let dst = packedX + t * k * mr
                for r in 0..<mr {
                    let row = t * mr + r
                    if row < n {
                        let src = x + row * k
                        for kk in 0..<k { dst[kk * mr + r] = src[kk] }
                    } else {
                        for kk in 0..<k { dst[kk * mr + r] = 0 }
                    }
                }
            }
        }

        let tasks = (m + nc - 1) / nc
        let args = UncheckedBox((packedX, w, out))
        Parallel.forEach(tasks) { task in
            let (packedX, w, out) = args.value
            let j0 = task * nc, j1 = min(m, j0 + nc)
            let panels = (j1 - j0 + nr - 1) / nr
            let packedW = UnsafeMutablePointer<Float>.allocate(capacity: panels * kc * nr)
            defer { packedW.deallocate() }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: kc) { slice in
                let decoded = slice.baseAddress!
                var k0 = 0
                while k0 < k {
                    let depth = min(kc, k - k0)
                    for p in 0..<panels {
                        let dst = packedW + p * kc * nr
                        for c in 0..<nr {
                            let j = j0 + p * nr + c
                            if j < j1 {
                                let src = w + j * rowBytes + k0 / blockSize * blockBytes
                                if B.readsBlockOrder {
                                    // Decoded in lane order (in each 32 weights, position 8r + i is
                                    // weight 4i + r), put back in k order as the column is filled.
                                    for b in 0..<(depth / blockSize) {
                                        B.decodeBlockOrder(src + b * blockBytes, decoded)
                                        for g in 0..<(blockSize / 32) {
                                            let column = dst + (blockSize * b + 32 * g) * nr + c, lanes = decoded + 32 * g
                                            for r in 0..<4 {
                                                for i in 0..<8 { column[(4 * i + r) * nr] = lanes[8 * r + i] }
                                            }
                                        }
                                    }
                                } else {
                                    for b in 0..<(depth / blockSize) {
                                        B.decode(src + b * blockBytes, decoded + b * blockSize)
                                    }
                                    for kk in 0..<depth { dst[kk * nr + c] = decoded[kk] }
                                }
                            } else {
                                for kk in 0..<depth { dst[kk * nr + c] = 0 }
                            }
                        }
                    }
                    for t in 0..<tiles {
                        let a = packedX + t * k * mr + k0 * mr
                        let rows = min(mr, n - t * mr)
                        for p in 0..<panels {
                            let cols = min(nr, j1 - j0 - p * nr)
                            tile(a, packedW + p * kc * nr, depth, out + t * mr * m + j0 + p * nr, m, rows, cols, k0 == 0)
                        }
                    }
                    k0 += depth
                }
            }
        }
    }

    /// PackedMatmul's register tile in a function of its own: inlined into the decoding loop
    /// above, its 12 accumulators were spilled to the stack (2-3× slower).
    @inline(never)
    static func tile(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ depth: Int,
                     _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _ rows: Int, _ cols: Int, _ first: Bool) {
        PackedMatmul.tile(a, b, depth, out, ldo, rows, cols, first)
    }
}
