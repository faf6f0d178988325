/// Decoders for GGUF's block-quantised types, one block at a time, with llama.cpp's semantics
/// (`dequantize_row_*` in ggml-quants.c): the same layouts and the same float operations in the
/// same order, so results match the `gguf` Python package bit for bit.
///
/// Each decoder reads `blockBytes` bytes at `src` and writes `blockSize` floats to `dst`. They are
/// `@inlinable` so the CPU matmul can specialise on them and decode inside its kernel.
public protocol QuantBlock {
    static var dtype: DType { get }
    static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>)
}

extension QuantBlock {
    @inlinable public static var blockSize: Int { dtype.blockSize }
    @inlinable public static var blockBytes: Int { dtype.blockBytes }
}

@inlinable @inline(__always)
func halfAt(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

/// Q8_0: f16 scale d, 32 × int8. x = d·q.
public enum Q8_0Block: QuantBlock {
    public static var dtype: DType { .q8_0 }
    @inlinable @inline(__always)
    public static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        let d = halfAt(src, 0)
        let q = (src + 2).assumingMemoryBound(to: Int8.self)
        for i in 0..<32 { dst[i] = Float(q[i]) * d }
    }
}

/// Q4_0: f16 d, 16 bytes of nibbles (low nibbles are elements 0..<16, high ones 16..<32).
/// x = d·(q − 8).
public enum Q4_0Block: QuantBlock {
    public static var dtype: DType { .q4_0 }
    @inlinable @inline(__always)
    public static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        let d = halfAt(src, 0)
        let qs = (src + 2).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            dst[j] = Float(Int32(qs[j] & 0x0F) - 8) * d
            dst[j + 16] = Float(Int32(qs[j] >> 4) - 8) * d
        }
    }
}

/// Q4_1: f16 d, f16 min m, nibbles as Q4_0. x = d·q + m.
public enum Q4_1Block: QuantBlock {
    public static var dtype: DType { .q4_1 }
    @inlinable @inline(__always)
    public static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        let d = halfAt(src, 0), m = halfAt(src, 2)
        let qs = (src + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            dst[j] = Float(qs[j] & 0x0F) * d + m
            dst[j + 16] = Float(qs[j] >> 4) * d + m
        }
    }
}

/// Q5_0: f16 d, a 32-bit word of fifth bits (bit j for element j), nibbles as Q4_0.
/// x = d·(q − 16).
public enum Q5_0Block: QuantBlock {
    public static var dtype: DType { .q5_0 }
    @inlinable @inline(__always)
    public static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        let d = halfAt(src, 0)
        let qh = src.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
        let qs = (src + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let h0 = Int32((qh >> UInt32(j)) & 1) << 4
            let h1 = Int32((qh >> UInt32(j + 16)) & 1) << 4
            dst[j] = Float((Int32(qs[j] & 0x0F) | h0) - 16) * d
            dst[j + 16] = Float((Int32(qs[j] >> 4) | h1) - 16) * d
        }
    }
}

/// Q5_1: f16 d, f16 m, fifth bits and nibbles as Q5_0. x = d·q + m.
public enum Q5_1Block: QuantBlock {
    public static var dtype: DType { .q5_1 }
    @inlinable @inline(__always)
    public static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        let d = halfAt(src, 0), m = halfAt(src, 2)
        let qh = src.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        let qs = (src + 8).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let h0 = UInt32((qh >> UInt32(j)) & 1) << 4
            let h1 = UInt32((qh >> UInt32(j + 16)) & 1) << 4
            dst[j] = Float(UInt32(qs[j] & 0x0F) | h0) * d + m
            dst[j + 16] = Float(UInt32(qs[j] >> 4) | h1) * d + m
        }
    }
}

/// The 6-bit scale and min of sub-block `j` (0..<8) from the 12 packed bytes of Q4_K / Q5_K.
@inlinable @inline(__always)
func kScaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: Float, min: Float) {
    if j < 4 {
        return (Float(q[j] & 63), Float(q[j + 4] & 63))
    }
    let s = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)
    let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
    return (Float(s), Float(m))
}

/// Q4_K: a 256-element super-block of 8 sub-blocks of 32. f16 d, f16 dmin, 12 bytes of 6-bit
/// scales and mins, 128 bytes of nibbles (each 32 bytes: low nibbles → one sub-block, high → the
/// next). x = (d·scale)·q − (dmin·min).
public enum Q4_KBlock: QuantBlock {
    public static var dtype: DType { .q4_K }
    @inlinable @inline(__always)
    public static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        let d = halfAt(src, 0), dmin = halfAt(src, 2)
        let scales = (src + 4).assumingMemoryBound(to: UInt8.self)
        let qs = (src + 16).assumingMemoryBound(to: UInt8.self)
        for j in 0..<4 {
            let (s1, m1) = kScaleMin(2 * j, scales), (s2, m2) = kScaleMin(2 * j + 1, scales)
            let d1 = d * s1, min1 = dmin * m1, d2 = d * s2, min2 = dmin * m2
            let q = qs + 32 * j, y = dst + 64 * j
            for l in 0..<32 {
                y[l] = d1 * Float(q[l] & 0x0F) - min1
                y[l + 32] = d2 * Float(q[l] >> 4) - min2
            }
        }
    }
}

/// Q5_K: as Q4_K plus 32 bytes of fifth bits (bit 2j / 2j+1 of byte l for the two sub-blocks of
/// pair j). Layout: d, dmin, scales[12], qh[32], qs[128].
public enum Q5_KBlock: QuantBlock {
    public static var dtype: DType { .q5_K }
    @inlinable @inline(__always)
    public static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        let d = halfAt(src, 0), dmin = halfAt(src, 2)
        let scales = (src + 4).assumingMemoryBound(to: UInt8.self)
        let qh = (src + 16).assumingMemoryBound(to: UInt8.self)
        let qs = (src + 48).assumingMemoryBound(to: UInt8.self)
        for j in 0..<4 {
            let (s1, m1) = kScaleMin(2 * j, scales), (s2, m2) = kScaleMin(2 * j + 1, scales)
            let d1 = d * s1, min1 = dmin * m1, d2 = d * s2, min2 = dmin * m2
            let u1 = UInt8(1) << UInt8(2 * j), u2 = UInt8(2) << UInt8(2 * j)
            let q = qs + 32 * j, y = dst + 64 * j
            for l in 0..<32 {
                y[l] = d1 * Float((q[l] & 0x0F) + (qh[l] & u1 != 0 ? 16 : 0)) - min1
                y[l + 32] = d2 * Float((q[l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)) - min2
            }
        }
    }
}

/// Q6_K: 256 elements; ql[128] low nibbles, qh[64] two high bits each, 16 int8 scales, f16 d
/// last. x = (d·scale)·(q − 32), in two halves of 128.
public enum Q6_KBlock: QuantBlock {
    public static var dtype: DType { .q6_K }
    @inlinable @inline(__always)
    public static func decode(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        let d = halfAt(src, 208)
        for half in 0..<2 {
            let ql = (src + 64 * half).assumingMemoryBound(to: UInt8.self)
            let qh = (src + 128 + 32 * half).assumingMemoryBound(to: UInt8.self)
            let sc = (src + 192 + 8 * half).assumingMemoryBound(to: Int8.self)
            let y = dst + 128 * half
            for l in 0..<32 {
                let i = l / 16
                let q1 = Int32((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32
                let q2 = Int32((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32
                let q3 = Int32((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
                let q4 = Int32((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
                y[l] = d * Float(sc[i]) * Float(q1)
                y[l + 32] = d * Float(sc[i + 2]) * Float(q2)
                y[l + 64] = d * Float(sc[i + 4]) * Float(q3)
                y[l + 96] = d * Float(sc[i + 6]) * Float(q4)
            }
        }
    }
}
