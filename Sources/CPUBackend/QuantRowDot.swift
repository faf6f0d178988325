import LanternCore

// Decode's matrix-vector product, one weight row at a time: Σⱼ wⱼ·xⱼ over a row of blocks whose
// weights are w = d·q (+ m). Applying d once per block to the block's Σ q·x, instead of to every
// weight, is the same sum of exact f32 products in another association (the kernel tests hold it
// to the reference matmul on the dequantised weights within 1e-5 of the output's scale), and it
// takes a multiply per eight weights out of the loop that bounds decode.
//
// Two accumulators, alternating blocks: each block's partial sums are independent, so the only
// loop-carried chain is one FMA per block per accumulator.

@inline(__always) private func load8(_ x: UnsafePointer<Float>, _ at: Int) -> SIMD8<Float> {
    UnsafeRawPointer(x + at).loadUnaligned(as: SIMD8<Float>.self)
}

/// The signed bytes at `offset`, as exact floats.
@inline(__always) private func signed8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Float> {
    SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int8>.self)))
}

/// The bytes at `offset`, zero-extended into 32-bit lanes.
@inline(__always) private func unsigned8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Int32> {
    SIMD8<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt8>.self))
}

/// For each byte value, its 8 bits as 32-bit lanes of 0 or 16: Q5's fifth bits by table lookup
/// (vector shifts by a lane index compile to scalar code here).
nonisolated(unsafe) private let fifthBitLanes: UnsafeMutablePointer<SIMD8<Int32>> = {
    let t = UnsafeMutablePointer<SIMD8<Int32>>.allocate(capacity: 256)
    for byte in 0..<256 {
        var v = SIMD8<Int32>()
        for lane in 0..<8 { v[lane] = Int32(((byte >> lane) & 1) << 4) }
        t[byte] = v
    }
    return t
}()

@inline(__always) private func fifthBits(_ word: UInt32, _ base: Int) -> SIMD8<Int32> {
    fifthBitLanes[Int((word >> UInt32(base)) & 0xFF)]
}

/// A 32-weight block type whose row dot is `Σ_b d_b · (Σ q·x) (+ m_b · Σ x)`.
protocol Block32Dot {
    /// d·Σ q·x (+ m·Σ x) of the block at `p` against the 32 activations at `x`, added to `acc`.
    static func accumulate(_ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ acc: inout SIMD8<Float>)
}

extension SIMDBlockDecoder where Self: Block32Dot {
    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        let bytes = dtype.blockBytes
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var p = src, xp = x, b = 0
        while b + 2 <= blocks {
            accumulate(p, xp, &a0)
            accumulate(p + bytes, xp + 32, &a1)
            p += 2 * bytes; xp += 64; b += 2
        }
        if b < blocks { accumulate(p, xp, &a0) }
        return (a0 + a1).sum()
    }
}

extension Q8_0SIMD: Block32Dot {
    @inline(__always) static func accumulate(_ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ acc: inout SIMD8<Float>) {
        var s0 = signed8(p, 2) * load8(x, 0), s1 = signed8(p, 18) * load8(x, 16)
        s0.addProduct(signed8(p, 10), load8(x, 8))
        s1.addProduct(signed8(p, 26), load8(x, 24))
        acc.addProduct(s0 + s1, SIMD8(repeating: half(p, 0)))
    }
}

extension Q4_0SIMD: Block32Dot {
    @inline(__always) static func accumulate(_ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ acc: inout SIMD8<Float>) {
        let q0 = unsigned8(p, 2), q1 = unsigned8(p, 10)
        // Low nibbles are weights 0..<16, high nibbles 16..<32; q − 8 in integers, then exact floats.
        var s0 = SIMD8<Float>((q0 & 0x0F) &- 8) * load8(x, 0), s1 = SIMD8<Float>((q0 &>> 4) &- 8) * load8(x, 16)
        s0.addProduct(SIMD8<Float>((q1 & 0x0F) &- 8), load8(x, 8))
        s1.addProduct(SIMD8<Float>((q1 &>> 4) &- 8), load8(x, 24))
        acc.addProduct(s0 + s1, SIMD8(repeating: half(p, 0)))
    }
}

extension Q4_1SIMD: Block32Dot {
    @inline(__always) static func accumulate(_ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ acc: inout SIMD8<Float>) {
        let q0 = unsigned8(p, 4), q1 = unsigned8(p, 12)
        let x0 = load8(x, 0), x1 = load8(x, 8), x2 = load8(x, 16), x3 = load8(x, 24)
        var s0 = SIMD8<Float>(q0 & 0x0F) * x0, s1 = SIMD8<Float>(q0 &>> 4) * x2
        s0.addProduct(SIMD8<Float>(q1 & 0x0F), x1)
        s1.addProduct(SIMD8<Float>(q1 &>> 4), x3)
        acc.addProduct(s0 + s1, SIMD8(repeating: half(p, 0)))
        acc.addProduct((x0 + x1) + (x2 + x3), SIMD8(repeating: half(p, 2)))
    }
}

extension Q5_0SIMD: Block32Dot {
    @inline(__always) static func accumulate(_ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ acc: inout SIMD8<Float>) {
        let qh = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
        let q0 = unsigned8(p, 6), q1 = unsigned8(p, 14)
        func weights(_ nibbles: SIMD8<Int32>, _ base: Int) -> SIMD8<Float> {
            SIMD8<Float>((nibbles | fifthBits(qh, base)) &- 16)
        }
        var s0 = weights(q0 & 0x0F, 0) * load8(x, 0), s1 = weights(q0 &>> 4, 16) * load8(x, 16)
        s0.addProduct(weights(q1 & 0x0F, 8), load8(x, 8))
        s1.addProduct(weights(q1 &>> 4, 24), load8(x, 24))
        acc.addProduct(s0 + s1, SIMD8(repeating: half(p, 0)))
    }
}

extension Q5_1SIMD: Block32Dot {
    @inline(__always) static func accumulate(_ p: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ acc: inout SIMD8<Float>) {
        let qh = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        let q0 = unsigned8(p, 8), q1 = unsigned8(p, 16)
        let x0 = load8(x, 0), x1 = load8(x, 8), x2 = load8(x, 16), x3 = load8(x, 24)
        var s0 = SIMD8<Float>((q0 & 0x0F) | fifthBits(qh, 0)) * x0
        var s1 = SIMD8<Float>((q0 &>> 4) | fifthBits(qh, 16)) * x2
        s0.addProduct(SIMD8<Float>((q1 & 0x0F) | fifthBits(qh, 8)), x1)
        s1.addProduct(SIMD8<Float>((q1 &>> 4) | fifthBits(qh, 24)), x3)
        acc.addProduct(s0 + s1, SIMD8(repeating: half(p, 0)))
        acc.addProduct((x0 + x1) + (x2 + x3), SIMD8(repeating: half(p, 2)))
    }
}
