import CIntrinsics
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
    /// Σ w·x over the `blocks` consecutive blocks at `src` (one weight row) and the activations at
    /// `x`: decode's matrix-vector product. By default each block decoded into a `DotSink`; the
    /// types' own row dots apply each block's scale once (QuantRowDot.swift, QuantRowDotK.swift).
    static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float
    /// Whether `dot` reads the activations in `BlockOrder` (the 32-weight types and Q6_K) or as they are.
    static var readsBlockOrder: Bool { get }
    /// For those types: the block's weights in `BlockOrder` (in each 32, out[8r + i] = weight 4i + r).
    static func decodeBlockOrder(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>)
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
/// Four accumulators, picked by the group's position, so that consecutive groups do not wait on
/// each other's FMA (one chain made decode latency-bound at a third of memory bandwidth).
struct DotSink: BlockSink {
    var x: UnsafePointer<Float>
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()

    init(x: UnsafePointer<Float>) { self.x = x }

    @inline(__always) mutating func put(_ v: SIMD8<Float>, _ at: Int) {
        let a = UnsafeRawPointer(x + at).loadUnaligned(as: SIMD8<Float>.self)
        switch (at >> 3) & 3 {
        case 0: acc0.addProduct(v, a)
        case 1: acc1.addProduct(v, a)
        case 2: acc2.addProduct(v, a)
        default: acc3.addProduct(v, a)
        }
    }

    var sum: Float {
        @inline(__always) get { ((acc0 + acc1) + (acc2 + acc3)).sum() }
    }
}

extension SIMDBlockDecoder {
    static var readsBlockOrder: Bool { false }
    static func decodeBlockOrder(_ src: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        preconditionFailure("\(dtype) decodes in its own order")
    }

    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var sink = DotSink(x: x)
        for b in 0..<blocks {
            sink.x = x + b * dtype.blockSize
            decode(src + b * dtype.blockBytes, &sink)
        }
        return sink.sum
    }

    /// Decodes one block into `dtype.blockSize` floats at `dst`.
    @inline(__always) static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        var sink = StoreSink(dst: dst)
        decode(src, &sink)
    }
}

/// The f16 at `offset` as a float, read as four halves (8 bytes from `offset`, which must lie in the
/// block) so that it compiles to one vcvtph2ps from memory. The scalar conversion inserted the half
/// into whatever register was free — often an accumulator — and chained every block to the last
/// block's FMA (decode ran at half speed on that false dependency).
@inline(__always) func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    SIMD4<Float>(p.loadUnaligned(fromByteOffset: offset, as: SIMD4<Float16>.self))[0]
}

/// The f16 at `offset` when fewer than 8 bytes of the block follow it: the last of four halves.
@inline(__always) func halfAtEnd(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    SIMD4<Float>(p.loadUnaligned(fromByteOffset: offset - 6, as: SIMD4<Float16>.self))[3]
}

// Swift's SIMD conversions between scalar types were generic calls in older toolchains (a call
// per eight weights); with Swift 6.3 the byte-to-lane conversion below compiles to a single AVX2
// instruction (checked in the assembly). The signed bytes to floats still became two calls in the
// Q8_0 panel fill, so they go through `CIntrinsics`. The other helpers use same-type lane ops.

/// The 8 bytes at `offset`, zero-extended into 32-bit lanes: one vpmovzxbd with Swift 6.3 (the
/// byte-vector conversion is inlined now; the former broadcast-shift-mask took ~6 instructions
/// per eight weights, and decode was bound by instruction count, not memory).
@inline(__always) private func lanes(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<UInt32> {
    SIMD8<UInt32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt8>.self))
}

/// The 8 signed bytes at `offset` as exact floats (vpmovsxbd + vcvtdq2ps, from `CIntrinsics`).
@inline(__always) private func signedFloats(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Float> {
    lantern_i8x8_to_f32(p + offset)
}

/// Exact conversion of lanes below 2²³: 2²³ + v has v in its mantissa.
@inline(__always) private func float(_ v: SIMD8<UInt32>) -> SIMD8<Float> {
    SIMD8<Float>(bitPattern: v | 0x4B00_0000) - 8_388_608
}

extension SIMD8 where Scalar == Float {
    @inline(__always) init(bitPattern v: SIMD8<UInt32>) { self = unsafeBitCast(v, to: SIMD8<Float>.self) }
}

/// For each byte value, its 8 bits as float lanes of 0 or 16: Q5's fifth bits by table lookup.
/// Every vector form tried (variable shifts, masks, pointwiseMin) compiled to scalar code or calls.
nonisolated(unsafe) private let fifthBitTable: UnsafeMutablePointer<SIMD8<Float>> = {
    let t = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 256)
    for byte in 0..<256 {
        var v = SIMD8<Float>()
        for lane in 0..<8 { v[lane] = Float(((byte >> lane) & 1) << 4) }
        t[byte] = v
    }
    return t
}()

/// Bit e of `word` for the elements e = base..<base+8 (base a multiple of 8), as 0 or 16.
@inline(__always) private func fifthBits(_ word: UInt32, _ base: Int) -> SIMD8<Float> {
    fifthBitTable[Int((word >> UInt32(base)) & 0xFF)]
}

/// The high nibbles of the lanes as floats. `(q & 0xF0) / 16` is exact, and unlike `q &>> 4`
/// (a SIMD shift by a scalar, which LLVM turned into scalar code here) it stays in vectors.
@inline(__always) private func highNibbles(_ q: SIMD8<UInt32>) -> SIMD8<Float> {
    float(q & 0xF0) * 0.0625
}

@inline(__always) private func times4(_ v: SIMD8<UInt32>) -> SIMD8<UInt32> {
    let v2 = v &+ v
    return v2 &+ v2
}

@inline(__always) private func times16(_ v: SIMD8<UInt32>) -> SIMD8<UInt32> { times4(times4(v)) }

enum Q8_0SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q8_0 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0)
        for c in 0..<4 {
            // Signed bytes, converted exactly: the same weights q·d as the reference decoder.
            sink.put(signedFloats(src, 2 + 8 * c) * d, 8 * c)
        }
    }
}

enum Q4_0SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q4_0 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0)
        for c in 0..<2 {
            let q = lanes(src, 2 + 8 * c)
            sink.put((float(q & 0x0F) - 8) * d, 8 * c)
            sink.put((highNibbles(q) - 8) * d, 16 + 8 * c)
        }
    }
}

enum Q4_1SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q4_1 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0), m = half(src, 2)
        for c in 0..<2 {
            let q = lanes(src, 4 + 8 * c)
            sink.put(float(q & 0x0F) * d + m, 8 * c)
            sink.put(highNibbles(q) * d + m, 16 + 8 * c)
        }
    }
}

enum Q5_0SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q5_0 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0)
        let qh = src.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
        for c in 0..<2 {
            let q = lanes(src, 6 + 8 * c)
            sink.put(((float(q & 0x0F) + fifthBits(qh, 8 * c)) - 16) * d, 8 * c)
            sink.put(((highNibbles(q) + fifthBits(qh, 16 + 8 * c)) - 16) * d, 16 + 8 * c)
        }
    }
}

enum Q5_1SIMD: SIMDBlockDecoder {
    static var dtype: DType { .q5_1 }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = half(src, 0), m = half(src, 2)
        let qh = src.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        for c in 0..<2 {
            let q = lanes(src, 8 + 8 * c)
            sink.put((float(q & 0x0F) + fifthBits(qh, 8 * c)) * d + m, 8 * c)
            sink.put((highNibbles(q) + fifthBits(qh, 16 + 8 * c)) * d + m, 16 + 8 * c)
        }
    }
}

/// Scales and mins of the 8 sub-blocks of a Q4_K / Q5_K block, already multiplied by d and dmin.
@inline(__always) func kScales(_ src: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>) {
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
                let q = lanes(src, 16 + 32 * j + 8 * c)
                sink.put(d1 * float(q & 0x0F) - m1, 64 * j + 8 * c)
                sink.put(d2 * highNibbles(q) - m2, 64 * j + 32 + 8 * c)
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
                let q = lanes(src, 48 + 32 * j + 8 * c)
                let h = lanes(src, 16 + 8 * c)
                // Fifth bits 2j and 2j+1 of each byte, masked and scaled to 16 (exact).
                let u1 = UInt32(1) << UInt32(2 * j), u2 = u1 << 1
                let h1 = float(h & u1) * (16 / Float(u1)), h2 = float(h & u2) * (16 / Float(u2))
                sink.put(d1 * (float(q & 0x0F) + h1) - m1, 64 * j + 8 * c)
                sink.put(d2 * (highNibbles(q) + h2) - m2, 64 * j + 32 + 8 * c)
            }
        }
    }
}

enum Q6_KSIMD: SIMDBlockDecoder {
    static var dtype: DType { .q6_K }
    @inline(__always) static func decode<S: BlockSink>(_ src: UnsafeRawPointer, _ sink: inout S) {
        let d = halfAtEnd(src, 208)
        for h in 0..<2 {
            let ql = 64 * h, qh = 128 + 32 * h, sc = 192 + 8 * h
            for c in 0..<4 {
                let l = 8 * c
                let lo = lanes(src, ql + l), hi = lanes(src, ql + l + 32), top = lanes(src, qh + l)
                let i = l / 16
                // Six-bit values: low nibble | two high bits moved to bits 4-5 by doubling (vector
                // adds; SIMD shifts by a scalar compiled to scalar code). q3, q4 are built ×16.
                let q1 = float((lo & 0x0F) | times16(top & 0x03))
                let q2 = float((hi & 0x0F) | times4(top & 0x0C))
                let q3 = float((lo & 0xF0) | times16(top & 0x30)) * 0.0625
                let q4 = float((hi & 0xF0) | times4(top & 0xC0)) * 0.0625
                func scale(_ k: Int) -> Float { d * Float(src.load(fromByteOffset: sc + i + k, as: Int8.self)) }
                sink.put(scale(0) * (q1 - 32), 128 * h + l)
                sink.put(scale(2) * (q2 - 32), 128 * h + l + 32)
                sink.put(scale(4) * (q3 - 32), 128 * h + l + 64)
                sink.put(scale(6) * (q4 - 32), 128 * h + l + 96)
            }
        }
    }
}
