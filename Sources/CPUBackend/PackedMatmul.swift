import LanternCore

/// The prefill matmul (many activation rows): out[n, m] = x[n, k] · w[m, k]ᵀ as a packed GEMM in
/// the BLIS style. Weights are widened to f32 one panel at a time (`nr` rows × `kc` columns,
/// stored k-major), activations are packed once into 6-row tiles, and a 6 × 16 register tile
/// does pure broadcast-and-FMA work: no conversions or horizontal sums in the inner loop. The
/// widened panel (16 KiB) lives in L1 while every activation tile passes over it, so the cost of
/// widening bf16/f16 is paid once per weight per call, not once per row.
enum PackedMatmul {
    static let mr = 6
    static let nr = 16
    static let kc = 256
    /// Weight rows per task: 8 panels, so one task's widened weights (128 KiB) stay in L2.
    static let nc = nr * 8

    static func run<W: WeightLoad>(_: W.Type, x: UnsafePointer<Float>, w: UnsafeRawPointer,
                                   out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
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

        let rowBytes = k * W.elementBytes
        let tasks = (m + nc - 1) / nc
        let args = UncheckedBox((packedX, w, out))
        Parallel.forEach(tasks) { task in
            let (packedX, w, out) = args.value
            let j0 = task * nc, j1 = min(m, j0 + nc)
            let panels = (j1 - j0 + nr - 1) / nr
            let packedW = UnsafeMutablePointer<Float>.allocate(capacity: panels * kc * nr)
            defer { packedW.deallocate() }
            var k0 = 0
            while k0 < k {
                let depth = min(kc, k - k0)
                // Widen this task's weights for k0..<k0+depth into k-major panels.
                for p in 0..<panels {
                    let dst = packedW + p * kc * nr
                    for c in 0..<nr {
                        let j = j0 + p * nr + c
                        if j < j1 {
                            let row = w + j * rowBytes
                            var kk = 0
                            while kk + 8 <= depth {
                                let v = W.load8(row, k0 + kk)
                                for t in 0..<8 { dst[(kk + t) * nr + c] = v[t] }
                                kk += 8
                            }
                            while kk < depth { dst[kk * nr + c] = W.load1(row, k0 + kk); kk += 1 }
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

    /// 6 rows × 16 columns: 12 accumulators, two weight vectors, one broadcast.
    @inline(__always)
    static func tile(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ depth: Int,
                     _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _ rows: Int, _ cols: Int, _ first: Bool) {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
        var ap = a, bp = UnsafeRawPointer(b)
        for _ in 0..<depth {
            let b0 = bp.load(as: SIMD8<Float>.self), b1 = bp.load(fromByteOffset: 32, as: SIMD8<Float>.self)
            var s = SIMD8<Float>(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = SIMD8<Float>(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
            s = SIMD8<Float>(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
            s = SIMD8<Float>(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
            s = SIMD8<Float>(repeating: ap[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
            s = SIMD8<Float>(repeating: ap[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
            ap += 6
            bp += 64
        }
        store(out, c00, c01, cols, first)
        if rows > 1 { store(out + ldo, c10, c11, cols, first) }
        if rows > 2 { store(out + 2 * ldo, c20, c21, cols, first) }
        if rows > 3 { store(out + 3 * ldo, c30, c31, cols, first) }
        if rows > 4 { store(out + 4 * ldo, c40, c41, cols, first) }
        if rows > 5 { store(out + 5 * ldo, c50, c51, cols, first) }
    }

    /// Writes (first k slice) or adds one row of a tile, clipped to `cols`.
    @inline(__always)
    static func store(_ o: UnsafeMutablePointer<Float>, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>, _ cols: Int, _ first: Bool) {
        if cols == 16 {
            let raw = UnsafeMutableRawPointer(o)
            if first {
                raw.storeBytes(of: lo, as: SIMD8<Float>.self)
                raw.storeBytes(of: hi, toByteOffset: 32, as: SIMD8<Float>.self)
            } else {
                raw.storeBytes(of: raw.loadUnaligned(as: SIMD8<Float>.self) + lo, as: SIMD8<Float>.self)
                raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) + hi,
                               toByteOffset: 32, as: SIMD8<Float>.self)
            }
        } else {
            for c in 0..<cols {
                let v = c < 8 ? lo[c] : hi[c - 8]
                o[c] = first ? v : o[c] + v
            }
        }
    }
}
