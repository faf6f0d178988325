import LanternCore

/// out[n, m] = x[n, k] · w[m, k]ᵀ: every output is a dot product of an activation row with a
/// weight row, both contiguous in k (HF's [out, in] layout, so weights are used as stored).
///
/// Blocking: threads take blocks of `blockRows` weight rows; inside a block the k dimension is cut
/// into `kBlock` slices so the block's weights (≤ 96 KiB of bf16) and four activation rows stay in
/// L2/L1 while the 4×3 register tile runs over them. Partial dot products accumulate into `out`.
enum Matmul {
    static let blockRows = 48
    static let kBlock = 1024

    static func run<W: WeightLoad>(_: W.Type, x: UnsafePointer<Float>, w: UnsafeRawPointer,
                                   out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let rowBytes = k * W.elementBytes
        let blocks = (m + blockRows - 1) / blockRows
        let args = UncheckedBox((x, w, out))
        Parallel.forEach(blocks) { b in
            let (x, w, out) = args.value
            let j0 = b * blockRows, j1 = min(m, j0 + blockRows)
            var k0 = 0
            while k0 < k {
                let k1 = min(k, k0 + kBlock)
                let first = k0 == 0
                var i = 0
                while i + 4 <= n {
                    var j = j0
                    while j + 3 <= j1 {
                        tile4x3(W.self, x + i * k, k, w + j * rowBytes, rowBytes, out + i * m + j, m, k0, k1, first)
                        j += 3
                    }
                    while j < j1 {
                        for r in 0..<4 {
                            tile1x1(W.self, x + (i + r) * k, w + j * rowBytes, out + (i + r) * m + j, k0, k1, first)
                        }
                        j += 1
                    }
                    i += 4
                }
                while i < n {
                    var j = j0
                    while j + 3 <= j1 {
                        tile1x3(W.self, x + i * k, w + j * rowBytes, rowBytes, out + i * m + j, k0, k1, first)
                        j += 3
                    }
                    while j < j1 {
                        tile1x1(W.self, x + i * k, w + j * rowBytes, out + i * m + j, k0, k1, first)
                        j += 1
                    }
                    i += 1
                }
                k0 = k1
            }
        }
    }

    /// Four activation rows against three weight rows: 12 accumulators, 3 weight vectors and one
    /// activation vector fill AVX2's 16 registers.
    @inline(__always)
    static func tile4x3<W: WeightLoad>(_: W.Type, _ x: UnsafePointer<Float>, _ ldx: Int,
                                       _ w: UnsafeRawPointer, _ ldw: Int,
                                       _ out: UnsafeMutablePointer<Float>, _ ldo: Int,
                                       _ k0: Int, _ k1: Int, _ first: Bool) {
        let w0 = w, w1 = w + ldw, w2 = w + 2 * ldw
        let x0 = x, x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx
        var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>()
        var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>()
        var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a22 = SIMD8<Float>()
        var a30 = SIMD8<Float>(), a31 = SIMD8<Float>(), a32 = SIMD8<Float>()
        var kk = k0
        while kk + 8 <= k1 {
            let b0 = W.load8(w0, kk), b1 = W.load8(w1, kk), b2 = W.load8(w2, kk)
            var a = UnsafeRawPointer(x0 + kk).loadUnaligned(as: SIMD8<Float>.self)
            a00.addProduct(a, b0); a01.addProduct(a, b1); a02.addProduct(a, b2)
            a = UnsafeRawPointer(x1 + kk).loadUnaligned(as: SIMD8<Float>.self)
            a10.addProduct(a, b0); a11.addProduct(a, b1); a12.addProduct(a, b2)
            a = UnsafeRawPointer(x2 + kk).loadUnaligned(as: SIMD8<Float>.self)
            a20.addProduct(a, b0); a21.addProduct(a, b1); a22.addProduct(a, b2)
            a = UnsafeRawPointer(x3 + kk).loadUnaligned(as: SIMD8<Float>.self)
            a30.addProduct(a, b0); a31.addProduct(a, b1); a32.addProduct(a, b2)
            kk += 8
        }
        if kk < k1 {
            // The ragged end of k: zero-padded vectors, one more step.
            let b0 = tail(W.self, w0, kk, k1), b1 = tail(W.self, w1, kk, k1), b2 = tail(W.self, w2, kk, k1)
            var a = tail(F32Load.self, UnsafeRawPointer(x0), kk, k1)
            a00.addProduct(a, b0); a01.addProduct(a, b1); a02.addProduct(a, b2)
            a = tail(F32Load.self, UnsafeRawPointer(x1), kk, k1)
            a10.addProduct(a, b0); a11.addProduct(a, b1); a12.addProduct(a, b2)
            a = tail(F32Load.self, UnsafeRawPointer(x2), kk, k1)
            a20.addProduct(a, b0); a21.addProduct(a, b1); a22.addProduct(a, b2)
            a = tail(F32Load.self, UnsafeRawPointer(x3), kk, k1)
            a30.addProduct(a, b0); a31.addProduct(a, b1); a32.addProduct(a, b2)
        }
        store(out, first, a00.sum(), a01.sum(), a02.sum())
        store(out + ldo, first, a10.sum(), a11.sum(), a12.sum())
        store(out + 2 * ldo, first, a20.sum(), a21.sum(), a22.sum())
        store(out + 3 * ldo, first, a30.sum(), a31.sum(), a32.sum())
    }

    /// Elements k..<end (fewer than 8) of a row, zero-padded to 8.
    @inline(__always)
    static func tail<W: WeightLoad>(_: W.Type, _ row: UnsafeRawPointer, _ k: Int, _ end: Int) -> SIMD8<Float> {
        var v = SIMD8<Float>()
        for t in 0..<(end - k) { v[t] = W.load1(row, k + t) }
        return v
    }

    @inline(__always)
    static func store(_ o: UnsafeMutablePointer<Float>, _ first: Bool, _ s0: Float, _ s1: Float, _ s2: Float) {
        if first { o[0] = s0; o[1] = s1; o[2] = s2 } else { o[0] += s0; o[1] += s1; o[2] += s2 }
    }

    /// One activation row against three weight rows: decode's shape, bound by reading weights.
    @inline(__always)
    static func tile1x3<W: WeightLoad>(_: W.Type, _ x: UnsafePointer<Float>,
                                       _ w: UnsafeRawPointer, _ ldw: Int,
                                       _ out: UnsafeMutablePointer<Float>,
                                       _ k0: Int, _ k1: Int, _ first: Bool) {
        let w0 = w, w1 = w + ldw, w2 = w + 2 * ldw
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>()
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>()
        var kk = k0
        // Two independent accumulator sets hide the FMA latency.
        while kk + 16 <= k1 {
            let a = UnsafeRawPointer(x + kk).loadUnaligned(as: SIMD8<Float>.self)
            a0.addProduct(a, W.load8(w0, kk)); a1.addProduct(a, W.load8(w1, kk)); a2.addProduct(a, W.load8(w2, kk))
            let c = UnsafeRawPointer(x + kk + 8).loadUnaligned(as: SIMD8<Float>.self)
            c0.addProduct(c, W.load8(w0, kk + 8)); c1.addProduct(c, W.load8(w1, kk + 8)); c2.addProduct(c, W.load8(w2, kk + 8))
            kk += 16
        }
        while kk + 8 <= k1 {
            let a = UnsafeRawPointer(x + kk).loadUnaligned(as: SIMD8<Float>.self)
            a0.addProduct(a, W.load8(w0, kk)); a1.addProduct(a, W.load8(w1, kk)); a2.addProduct(a, W.load8(w2, kk))
            kk += 8
        }
        var s0 = (a0 + c0).sum(), s1 = (a1 + c1).sum(), s2 = (a2 + c2).sum()
        while kk < k1 {
            s0 += x[kk] * W.load1(w0, kk); s1 += x[kk] * W.load1(w1, kk); s2 += x[kk] * W.load1(w2, kk)
            kk += 1
        }
        store(out, first, s0, s1, s2)
    }

    @inline(__always)
    static func tile1x1<W: WeightLoad>(_: W.Type, _ x: UnsafePointer<Float>, _ w: UnsafeRawPointer,
                                       _ out: UnsafeMutablePointer<Float>,
                                       _ k0: Int, _ k1: Int, _ first: Bool) {
        var acc = SIMD8<Float>()
        var kk = k0
        while kk + 8 <= k1 {
            acc.addProduct(UnsafeRawPointer(x + kk).loadUnaligned(as: SIMD8<Float>.self), W.load8(w, kk))
            kk += 8
        }
        var s = acc.sum()
        while kk < k1 { s += x[kk] * W.load1(w, kk); kk += 1 }
        if first { out[0] = s } else { out[0] += s }
    }
}
