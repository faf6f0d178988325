import LanternCore

/// Vectorised block decoders for the matmul kernel: eight elements at a time, the same float
/// operations per element as the reference decoders in LanternCore (so the weights are
/// bit-identical, which QuantMatmulTests checks), only faster.
///
/// A decoder hands each group of eight weights to a `BlockSink`: `StoreSink` writes them to a
/// buffer (prefill decodes rows once for many activation rows); `DotSink` multiplies them into an
/// accumulator with the activations at once (decode: no buffer round trip).
protocol SIMDBlockDecoder {
    static var dtype: DType { get }
    /// Feeds the `dtype.blockSize` weights of the block at `src` to `sink`, eight at a time.
    static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S)
}

protocol BlockSink {
    /// Weights at positions at..<at+8 of the block.
    mutating func put(_ v: SIMD8<Float>, _ at: Int)
}

struct StoreSink: BlockSink {
    let dst: UnsafeMutablePointer<Float>
    @inline(__always) mutating func put(_ v: SIMD8<Float>, _ at: Int) {
        UnsafeMutableRawPointer(dst + at).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}

/// acc += w · x for the block's weights w and the activations x at the block's position.
struct DotSink: BlockSink {
    var x: UnsafePointer<Float>
    var acc = SIMD8<Float>()
    @inline(__always) mutating func put(_ v: SIMD8<Float>, _ at: Int) {
        acc += v * UnsafeRawPointer(x + at).loadUnaligned(as: SIMD8<Float>.self)
    }
}

extension SIMDBlockDecoder {
    /// Decodes one block into `dtype.blockSize` floats at `dst`.
    @inline(__always) static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        var sink = StoreSink(dst: dst)
        decode(src, &sink)
    }
}

@inline(__always) private func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

@inline(__always) private func bytes8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<UInt8> {
    p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt8>.self)
}

@inline(__always) private func float8(_ v: SIMD8<UInt8>) -> SIMD8<Float> {
    SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: v))
}

/// Bit e of `word` for the elements e = base..<base+8, as 0 or 16, in 32-bit lanes (AVX2 has
/// per-lane variable shifts; byte-wide versions of this compiled to far slower code).
@inline(__always) private func fifthBits(_ word: UInt32, _ base: Int) -> SIMD8<Int32> {
    let shifts = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7) &+ UInt32(base)
    return SIMD8<Int32>(truncatingIfNeeded: ((SIMD8<UInt32>(repeating: word) &>> shifts) & 1) &<< 4)
}

@inline(__always) private func int8x(_ v: SIMD8<UInt8>) -> SIMD8<Int32> { SIMD8<Int32>(truncatingIfNeeded: v) }

enum Q8_0SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q8_0 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0)
        for c in 0..<4 {
            let q = src.loadUnaligned(fromByteOffset: 2 + 8 * c, as: SIMD8<Int8>.self)
            sink.put(SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: q)) * d, 8 * c)
        }
    }
}

enum Q4_0SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q4_0 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0)
        for c in 0..<2 {
            let q = bytes8(src, 2 + 8 * c)
            sink.put((float8(q & 0x0F) - 8) * d, 8 * c)
            sink.put((float8(q &>> 4) - 8) * d, 16 + 8 * c)
        }
    }
}

enum Q4_1SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q4_1 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0), m = half(src, 2)
        for c in 0..<2 {
            let q = bytes8(src, 4 + 8 * c)
            sink.put(float8(q & 0x0F) * d + m, 8 * c)
            sink.put(float8(q &>> 4) * d + m, 16 + 8 * c)
        }
    }
}

enum Q5_0SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q5_0 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0)
        let qh = src.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
        for c in 0..<2 {
            let q = int8x(bytes8(src, 6 + 8 * c))
            sink.put((SIMD8<Float>((q & 0x0F) | fifthBits(qh, 8 * c)) - 16) * d, 8 * c)
            sink.put((SIMD8<Float>((q &>> 4) | fifthBits(qh, 16 + 8 * c)) - 16) * d, 16 + 8 * c)
        }
    }
}

enum Q5_1SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q5_1 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0), m = half(src, 2)
        let qh = src.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        for c in 0..<2 {
            let q = int8x(bytes8(src, 8 + 8 * c))
            sink.put(SIMD8<Float>((q & 0x0F) | fifthBits(qh, 8 * c)) * d + m, 8 * c)
            sink.put(SIMD8<Float>((q &>> 4) | fifthBits(qh, 16 + 8 * c)) * d + m, 16 + 8 * c)
        }
    }
}

/// Scales and mins of the 8 sub-blocks of a Q4_K / Q5_K block, already multiplied by d and dmin.
@inline(__always) private func kScales(_ src: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>) {
    let d = half(src, 0), dmin = half(src, 2)
    let q = src + 4
    var s = SIMD8<Float>(), m = SIMD8<Float>()
    for j in 0..<8 {
        let sc: UInt8, mn: UInt8
        if j < 4 {
            sc = q.load(fromByteOffset: j, as: UInt8.self) & 63
            mn = q.load(fromByteOffset: j + 4, as: UInt8.self) & 63
        } else {
            let a = q.load(fromByteOffset: j + 4, as: UInt8.self)
            sc = (a & 0x0F) | ((q.load(fromByteOffset: j - 4, as: UInt8.self) >> 6) << 4)
            mn = (a >> 4) | ((q.load(fromByteOffset: j, as: UInt8.self) >> 6) << 4)
        }
        s[j] = d * Float(sc)
        m[j] = dmin * Float(mn)
    }
    return (s, m)
}

enum Q4_KSIMD: SIMDBlockDecoder {
    static var dtype: DType { .q4_K }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let (s, m) = kScales(src)
        for j in 0..<4 {
            let (d1, m1, d2, m2) = (s[2 * j], m[2 * j], s[2 * j + 1], m[2 * j + 1])
            for c in 0..<4 {
                let q = int8x(bytes8(src, 16 + 32 * j + 8 * c))
                sink.put(d1 * SIMD8<Float>(q & 0x0F) - m1, 64 * j + 8 * c)
                sink.put(d2 * SIMD8<Float>(q &>> 4) - m2, 64 * j + 32 + 8 * c)
            }
        }
    }
}

enum Q5_KSIMD: SIMDBlockDecoder {
    static var dtype: DType { .q5_K }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let (s, m) = kScales(src)
        for j in 0..<4 {
            let (d1, m1, d2, m2) = (s[2 * j], m[2 * j], s[2 * j + 1], m[2 * j + 1])
            for c in 0..<4 {
                let q = int8x(bytes8(src, 48 + 32 * j + 8 * c))
                let h = int8x(bytes8(src, 16 + 8 * c))
                let h1 = ((h &>> Int32(2 * j)) & 1) &<< 4, h2 = ((h &>> Int32(2 * j + 1)) & 1) &<< 4
                sink.put(d1 * SIMD8<Float>((q & 0x0F) | h1) - m1, 64 * j + 8 * c)
                sink.put(d2 * SIMD8<Float>((q &>> 4) | h2) - m2, 64 * j + 32 + 8 * c)
            }
        }
    }
}

enum Q6_KSIMD: SIMDBlockDecoder {
    static var dtype: DType { .q6_K }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 208)
        for h in 0..<2 {
            let ql = 64 * h, qh = 128 + 32 * h, sc = 192 + 8 * h
            for c in 0..<4 {
                let l = 8 * c
                let lo = int8x(bytes8(src, ql + l)), hi = int8x(bytes8(src, ql + l + 32)), top = int8x(bytes8(src, qh + l))
                let i = l / 16
                let q1 = (lo & 0x0F) | ((top & 3) &<< 4)
                let q2 = (hi & 0x0F) | (((top &>> 2) & 3) &<< 4)
                let q3 = (lo &>> 4) | (((top &>> 4) & 3) &<< 4)
                let q4 = (hi &>> 4) | (((top &>> 6) & 3) &<< 4)
                func scale(_ k: Int) -> Float { d * Float(src.load(fromByteOffset: sc + i + k, as: Int8.self)) }
                sink.put(scale(0) * SIMD8<Float>(q1 &- 32), 128 * h + l)
                sink.put(scale(2) * SIMD8<Float>(q2 &- 32), 128 * h + l + 32)
                sink.put(scale(4) * SIMD8<Float>(q3 &- 32), 128 * h + l + 64)
                sink.put(scale(6) * SIMD8<Float>(q4 &- 32), 128 * h + l + 96)
            }
        }
    }
}
