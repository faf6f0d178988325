// The Q4_0, Q4_1 and Q5_1 row dots two blocks at a time, for AVX-512 builds. These types are bound
// by the instructions that unpack their codes, not by memory: with 16-lane vectors every shift,
// mask and FMA works on two blocks at once (Q4_1 7–8.8 → 9 GB/s, Q5_1 4–6.7 → 7–8). Q5_0 stays at
// eight lanes (see its dot). The lane order is QuantRowDot's per block (lanes 0..<8 block b,
// lanes 8..<16 block b + 1, byte r of lane i is weight 4i + r), so the activations keep
// `BlockOrder` and every other path is unchanged; each vector of activations is the two blocks'
// eight at the same offset. A trailing odd block goes
// through the 8-lane form. Same exact products, summed in another association (the kernel tests
// hold every row dot to a double-precision sum).

#if LANTERN_AVX512
typealias Lanes16 = SIMD16<UInt32>

@inline(__always) private func load8(_ x: UnsafePointer<Float>, _ at: Int) -> SIMD8<Float> {
    UnsafeRawPointer(x + at).loadUnaligned(as: SIMD8<Float>.self)
}

/// Activations at..<at+8 of block b (lanes 0..<8) and of block b + 1 (lanes 8..<16).
@inline(__always) private func pairX(_ x: UnsafePointer<Float>, _ at: Int) -> SIMD16<Float> {
    SIMD16(lowHalf: load8(x, at), highHalf: load8(x, at + 32))
}

@inline(__always) private func biased(_ v: Lanes16, _ bias: Float) -> SIMD16<Float> {
    unsafeBitCast(v | 0x4B00_0000, to: SIMD16<Float>.self) - (8_388_608 + bias)
}

@inline(__always) private func byte(_ v: Lanes16, _ r: UInt32) -> Lanes16 {
    r == 3 ? v &>> 24 : (v &>> (8 * r)) & 0xFF
}

/// The 32 nibbles of each block (16 bytes at `offset`), in QuantRowDot's `nibbles` order.
@inline(__always) private func pairNibbles(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, _ offset: Int) -> Lanes16 {
    let w0 = p0.loadUnaligned(fromByteOffset: offset, as: SIMD4<UInt32>.self)
    let w1 = p1.loadUnaligned(fromByteOffset: offset, as: SIMD4<UInt32>.self)
    return Lanes16(lowHalf: SIMD8(lowHalf: w0, highHalf: w0 &>> 4), highHalf: SIMD8(lowHalf: w1, highHalf: w1 &>> 4)) & 0x0F0F_0F0F
}

/// The f16 scale at `offset` of each block, block b's in lanes 0..<8.
@inline(__always) private func pairScale(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, _ offset: Int) -> SIMD16<Float> {
    SIMD16(lowHalf: SIMD8(repeating: half(p0, offset)), highHalf: SIMD8(repeating: half(p1, offset)))
}

/// Both Q5 blocks' 5-bit codes: QuantRowDot's `fiveBitCodes` of each, block b in lanes 0..<8.
@inline(__always) private func pairFiveBitCodes(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, bits: Int, codes: Int) -> Lanes16 {
    Lanes16(lowHalf: fiveBitCodes(p0, bits: bits, codes: codes), highHalf: fiveBitCodes(p1, bits: bits, codes: codes))
}

/// Σ (q − bias)·x of both blocks, per lane.
@inline(__always) private func pairCodeDot(_ v: Lanes16, _ bias: Float, _ x: UnsafePointer<Float>) -> SIMD16<Float> {
    var s = biased(byte(v, 0), bias) * pairX(x, 0)
    s.addProduct(biased(byte(v, 1), bias), pairX(x, 8))
    s.addProduct(biased(byte(v, 2), bias), pairX(x, 16))
    s.addProduct(biased(byte(v, 3), bias), pairX(x, 24))
    return s
}

/// Σ x of both blocks, per lane (the Q4_1/Q5_1 minimums multiply it): from `BlockSums` when the
/// product made them (one load), else added here.
@inline(__always) private func pairSum(_ x: UnsafePointer<Float>, _ sums: UnsafePointer<Float>?, _ b: Int) -> SIMD16<Float> {
    if let sums { return UnsafeRawPointer(sums + 8 * b).loadUnaligned(as: SIMD16<Float>.self) }
    return (pairX(x, 0) + pairX(x, 8)) + (pairX(x, 16) + pairX(x, 24))
}

enum PairedRowDots {
    @inline(__always) static func q4_0(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = SIMD16<Float>()
        var b = 0
        while b + 2 <= blocks {
            let p0 = src + b * 18, p1 = p0 + 18
            acc.addProduct(pairCodeDot(pairNibbles(p0, p1, 2), 8, x + 32 * b), pairScale(p0, p1, 0))
            b += 2
        }
        var total = (acc.lowHalf + acc.highHalf).sum()
        if b < blocks { total += Q4_0SIMD.singleDot(src + b * 18, x + 32 * b) }
        return total
    }

    @inline(__always) static func q4_1(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, sums: UnsafePointer<Float>?, blocks: Int) -> Float {
        var acc = SIMD16<Float>()
        var b = 0
        while b + 2 <= blocks {
            let p0 = src + b * 20, p1 = p0 + 20, xb = x + 32 * b
            acc.addProduct(pairCodeDot(pairNibbles(p0, p1, 4), 0, xb), pairScale(p0, p1, 0))
            acc.addProduct(pairSum(xb, sums, b), pairScale(p0, p1, 2))
            b += 2
        }
        var total = (acc.lowHalf + acc.highHalf).sum()
        if b < blocks { total += Q4_1SIMD.singleDot(src + b * 20, x + 32 * b) }
        return total
    }

    @inline(__always) static func q5_1(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, sums: UnsafePointer<Float>?, blocks: Int) -> Float {
        var acc = SIMD16<Float>()
        var b = 0
        while b + 2 <= blocks {
            let p0 = src + b * 24, p1 = p0 + 24, xb = x + 32 * b
            acc.addProduct(pairCodeDot(pairFiveBitCodes(p0, p1, bits: 4, codes: 8), 0, xb), pairScale(p0, p1, 0))
            acc.addProduct(pairSum(xb, sums, b), pairScale(p0, p1, 2))
            b += 2
        }
        var total = (acc.lowHalf + acc.highHalf).sum()
        if b < blocks { total += Q5_1SIMD.singleDot(src + b * 24, x + 32 * b) }
        return total
    }
}
#endif
