import LanternCore

/// Decodes a stretch of one weight row, in whole blocks, to f32.
protocol RowSegmentDecoder {
    /// Elements `from ..< from + count` of the row starting at `row` (both multiples of the block size).
    static func decode(_ row: UnsafeRawPointer, from: Int, count: Int, into out: UnsafeMutablePointer<Float>)
}

/// 16- and 32-bit floats: element by element through the matmul's widening loads.
enum FloatRowDecoder<W: WeightLoad>: RowSegmentDecoder {
    @inline(__always)
    static func decode(_ row: UnsafeRawPointer, from: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<count { out[i] = W.load1(row, from + i) }
    }
}

/// GGUF block types: llama.cpp's reference decoders, a block at a time.
enum BlockRowDecoder<B: QuantBlock>: RowSegmentDecoder {
    @inline(__always)
    static func decode(_ row: UnsafeRawPointer, from: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        let first = from / B.blockSize
        for b in 0..<(count / B.blockSize) {
            B.decode(row + (first + b) * B.blockBytes, out + b * B.blockSize)
        }
    }
}

/// dX [n, k] = dY [n, m] · W [m, k] for a weight W stored in any dtype: the backward of the
/// forward's x · Wᵀ. W's rows are decoded a segment at a time (no f32 copy of the weight: the
/// 262144 × 640 embedding of Gemma 3 stays quantised). Threads own disjoint column ranges of dX;
/// rows of W whose column of dY is all zero (every vocabulary row but two, for a logit
/// difference) are never decoded.
enum MatmulBackward {
    static func run(_ dtype: DType, dy: UnsafePointer<Float>, w: UnsafeRawPointer, dx: UnsafeMutablePointer<Float>,
                    n: Int, k: Int, m: Int) {
        switch dtype {
        case .f32: run(FloatRowDecoder<F32Load>.self, dtype, dy, w, dx, n, k, m)
        case .f16: run(FloatRowDecoder<F16Load>.self, dtype, dy, w, dx, n, k, m)
        case .bf16: run(FloatRowDecoder<BF16Load>.self, dtype, dy, w, dx, n, k, m)
        case .q8_0: run(BlockRowDecoder<Q8_0Block>.self, dtype, dy, w, dx, n, k, m)
        case .q4_0: run(BlockRowDecoder<Q4_0Block>.self, dtype, dy, w, dx, n, k, m)
        case .q4_1: run(BlockRowDecoder<Q4_1Block>.self, dtype, dy, w, dx, n, k, m)
        case .q5_0: run(BlockRowDecoder<Q5_0Block>.self, dtype, dy, w, dx, n, k, m)
        case .q5_1: run(BlockRowDecoder<Q5_1Block>.self, dtype, dy, w, dx, n, k, m)
        case .q4_K: run(BlockRowDecoder<Q4_KBlock>.self, dtype, dy, w, dx, n, k, m)
        case .q5_K: run(BlockRowDecoder<Q5_KBlock>.self, dtype, dy, w, dx, n, k, m)
        case .q6_K: run(BlockRowDecoder<Q6_KBlock>.self, dtype, dy, w, dx, n, k, m)
        }
    }

    /// From this many rows of dY on, the blocked kernel (`runBlocked`) pays for decoding whole
    /// segments of W up front.
    static let blockedRows = 16

    static func run<D: RowSegmentDecoder>(_: D.Type, _ dtype: DType, _ dy: UnsafePointer<Float>, _ w: UnsafeRawPointer,
                                          _ dx: UnsafeMutablePointer<Float>, _ n: Int, _ k: Int, _ m: Int) {
        let rowBytes = (k / dtype.blockSize) * dtype.blockBytes
        let active = (0..<m).filter { j in (0..<n).contains { dy[$0 * m + j] != 0 } }
        if n >= blockedRows && k % 16 == 0 {
            return runBlocked(D.self, dtype, dy, w, dx, n, k, m, active: active, rowBytes: rowBytes)
        }
        for i in 0..<(n * k) { dx[i] = 0 }
        // Column segments of whole blocks; at least 256 columns each unless the row is shorter.
        let blocks = k / dtype.blockSize
        let blocksPerSegment = max(1, min(blocks, max(256 / dtype.blockSize, 1)))
        let segments = (blocks + blocksPerSegment - 1) / blocksPerSegment
        let args = UncheckedBox((dy, w, dx, active))
        Parallel.forEach(segments) { s in
            let (dy, w, dx, active) = args.value
            let from = s * blocksPerSegment * dtype.blockSize
            let count = min(k, from + blocksPerSegment * dtype.blockSize) - from
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { buffer.deallocate() }
            for j in active {
                D.decode(w + j * rowBytes, from: from, count: count, into: buffer)
                for i in 0..<n {
                    let a = dy[i * m + j]
                    if a == 0 { continue }
                    let out = dx + i * k + from
                    var t = 0
                    let a8 = SIMD8<Float>(repeating: a)
                    while t + 8 <= count {
                        let o = UnsafeMutableRawPointer(out + t)
                        o.storeBytes(of: o.loadUnaligned(as: SIMD8<Float>.self)
                            + a8 * UnsafeRawPointer(buffer + t).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                        t += 8
                    }
                    while t < count { out[t] += a * buffer[t]; t += 1 }
                }
            }
        }
    }

    /// Many rows: a register-blocked product. Each task decodes one column segment of W's active
    /// rows once, then for 4 rows of dY × 16 columns keeps the sums in registers over all of j,
    /// adding the terms in the same order (ascending j) as the row-by-row kernel above.
    static func runBlocked<D: RowSegmentDecoder>(_: D.Type, _ dtype: DType, _ dy: UnsafePointer<Float>, _ w: UnsafeRawPointer,
                                                 _ dx: UnsafeMutablePointer<Float>, _ n: Int, _ k: Int, _ m: Int,
                                                 active: [Int], rowBytes: Int) {
        let blocks = k / dtype.blockSize
        let blocksPerSegment = max(1, min(blocks, max(256 / dtype.blockSize, 1)))
        let segmentWidth = blocksPerSegment * dtype.blockSize
        let segments = (blocks + blocksPerSegment - 1) / blocksPerSegment
        let rowChunk = 64, rowChunks = (n + rowChunk - 1) / rowChunk
        let args = UncheckedBox((dy, w, dx, active))
        Parallel.forEach(segments * rowChunks) { task in
            let (dy, w, dx, active) = args.value
            let s = task % segments, rows = (task / segments) * rowChunk..<min(n, (task / segments + 1) * rowChunk)
            let from = s * segmentWidth, count = min(k, from + segmentWidth) - from
            // Active rows of W, this segment, as f32: [active.count, count].
            let wb = UnsafeMutablePointer<Float>.allocate(capacity: max(1, active.count * count))
            defer { wb.deallocate() }
            for (a, j) in active.enumerated() { D.decode(w + j * rowBytes, from: from, count: count, into: wb + a * count) }
            var i = rows.lowerBound
            while i < rows.upperBound {
                let r = min(4, rows.upperBound - i)
                // count is a multiple of 16: k is, and so is every segment's width.
                for t in stride(from: 0, to: count, by: 16) {
                    var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
                               SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                    for (a, j) in active.enumerated() {
                        let p = UnsafeRawPointer(wb + a * count + t)
                        let w0 = p.loadUnaligned(as: SIMD8<Float>.self), w1 = (p + 32).loadUnaligned(as: SIMD8<Float>.self)
                        let y0 = SIMD8<Float>(repeating: dy[i * m + j])
                        acc.0 += y0 * w0; acc.1 += y0 * w1
                        if r > 1 { let y = SIMD8<Float>(repeating: dy[(i + 1) * m + j]); acc.2 += y * w0; acc.3 += y * w1 }
                        if r > 2 { let y = SIMD8<Float>(repeating: dy[(i + 2) * m + j]); acc.4 += y * w0; acc.5 += y * w1 }
                        if r > 3 { let y = SIMD8<Float>(repeating: dy[(i + 3) * m + j]); acc.6 += y * w0; acc.7 += y * w1 }
                    }
                    func store(_ q: Int, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) {
                        let out = UnsafeMutableRawPointer(dx + (i + q) * k + from + t)
                        out.storeBytes(of: lo, as: SIMD8<Float>.self)
                        (out + 32).storeBytes(of: hi, as: SIMD8<Float>.self)
                    }
                    store(0, acc.0, acc.1)
                    if r > 1 { store(1, acc.2, acc.3) }
                    if r > 2 { store(2, acc.4, acc.5) }
                    if r > 3 { store(3, acc.6, acc.7) }
                }
                i += r
            }
        }
    }
}
