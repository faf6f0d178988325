import CIntrinsics
import LanternCore

/// Widening loads from a weight row in its stored dtype. The matmul is generic over this, so each
/// dtype gets its own specialised kernel and 16-bit weights never exist as f32 in memory.
protocol WeightLoad: SendableMetatype {
    /// Elements k..<k+8 of the row at `row`, widened.
    static func load8(_ row: UnsafeRawPointer, _ k: Int) -> SIMD8<Float>
    /// Elements k..<k+16 of the row, widened (decode's row dot, `FloatRowDot`).
    static func load16(_ row: UnsafeRawPointer, _ k: Int) -> SIMD16<Float>
    /// Element k of the row, widened.
    static func load1(_ row: UnsafeRawPointer, _ k: Int) -> Float
    static var elementBytes: Int { get }
}

enum F32Load: WeightLoad {
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        row.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
    }
    @inline(__always) static func load16(_ row: UnsafeRawPointer, _ k: Int) -> SIMD16<Float> {
        row.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self)
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ k: Int) -> Float {
        row.loadUnaligned(fromByteOffset: k * 4, as: Float.self)
    }
    static var elementBytes: Int { 4 }
}

/// bfloat16 is the top half of an f32: widen by shifting into place.
enum BF16Load: WeightLoad {
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let h = row.loadUnaligned(fromByteOffset: k * 2, as: SIMD8<UInt16>.self)
        return unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16, to: SIMD8<Float>.self)
    }
    @inline(__always) static func load16(_ row: UnsafeRawPointer, _ k: Int) -> SIMD16<Float> {
        #if LANTERN_AVX512
        lantern_bf16x16(row + k * 2)
        #else
        SIMD16(lowHalf: load8(row, k), highHalf: load8(row, k + 8))
        #endif
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ k: Int) -> Float {
        Float(bitPattern: UInt32(row.loadUnaligned(fromByteOffset: k * 2, as: UInt16.self)) << 16)
    }
    static var elementBytes: Int { 2 }
}

/// IEEE half: the F16C conversion when the build targets it.
enum F16Load: WeightLoad {
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        SIMD8<Float>(row.loadUnaligned(fromByteOffset: k * 2, as: SIMD8<Float16>.self))
    }
    @inline(__always) static func load16(_ row: UnsafeRawPointer, _ k: Int) -> SIMD16<Float> {
        #if LANTERN_AVX512
        lantern_f16x16(row + k * 2)
        #else
        SIMD16(lowHalf: load8(row, k), highHalf: load8(row, k + 8))
        #endif
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ k: Int) -> Float {
        Float(row.loadUnaligned(fromByteOffset: k * 2, as: Float16.self))
    }
    static var elementBytes: Int { 2 }
}
