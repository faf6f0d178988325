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

    static func run<D: RowSegmentDecoder>(_: D.Type, _ dtype: DType, _ dy: UnsafePointer<Float>, _ w: UnsafeRawPointer,
                                          _ dx: UnsafeMutablePointer<Float>, _ n: Int, _ k: Int, _ m: Int) {
        let rowBytes = (k / dtype.blockSize) * dtype.blockBytes
        let active = (0..<m).filter { j in (0..<n).contains { dy[$0 * m + j] != 0 } }
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
}
