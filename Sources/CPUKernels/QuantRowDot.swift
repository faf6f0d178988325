import LanternCore

// Decode's matrix-vector product, one weight row at a time: Σⱼ wⱼ·xⱼ over a row of 32-weight
// blocks whose weights are w = d·q (+ m). Applying d once per block to the block's Σ q·x, instead
// of to every weight, is the same sum of exact f32 products in another association (the kernel
// tests hold it to the reference matmul on the dequantised weights within 1e-5 of the output's
// scale), and it takes a multiply per eight weights out of the loop that bounds decode.
//
// Codes are read as 32-bit words, four to a lane, and each byte (or nibble) taken out with a shift
// and a mask: lane i of the r-th vector holds weight 4i + r of the block. The activations are put
// in the same order once per product (`BlockOrder.permute`), so no lane shuffles are needed, and
// codes become exact floats by the 2²³ trick (the bits of 2²³ + q, minus 2²³ + bias). Every step
// is a plain lane operation: the stdlib's SIMD widening and int-to-float initialisers, which these
// kernels used first, stayed out-of-line calls in this module (decode ran at half speed).
// AVX-512 builds take Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 from QuantRowDotAVX512.swift instead.

/// The order of activations the 32-weight row dots read: within each block of 32, position
/// 8r + i holds activation 4i + r.
enum BlockOrder {
    static func permute(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
        for base in stride(from: 0, to: count, by: 32) {
            for r in 0..<4 {
                for i in 0..<8 { out[base + 8 * r + i] = x[base + 4 * i + r] }
            }
        }
    }
}

@inline(__always) private func load8(_ x: UnsafePointer<Float>, _ at: Int) -> SIMD8<Float> {
    UnsafeRawPointer(x + at).loadUnaligned(as: SIMD8<Float>.self)
}

/// Lanes below 2⁸ (or any below 2²³) minus `bias`, as exact floats.
@inline(__always) private func biased(_ v: SIMD8<UInt32>, _ bias: Float) -> SIMD8<Float> {
    unsafeBitCast(v | 0x4B00_0000, to: SIMD8<Float>.self) - (8_388_608 + bias)
}

/// Byte r of every lane.
@inline(__always) private func byte(_ v: SIMD8<UInt32>, _ r: UInt32) -> SIMD8<UInt32> {
    r == 3 ? v &>> 24 : (v &>> (8 * r)) & 0xFF
}

/// The 16 bytes at `offset` as 32 nibbles: low nibbles in lanes 0..<4, high nibbles in lanes 4..<8,
/// so byte r of lane i is weight 4i + r of a block that stores weights j and j + 16 in byte j.
@inline(__always) private func nibbles(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<UInt32> {
    let w = p.loadUnaligned(fromByteOffset: offset, as: SIMD4<UInt32>.self)
    return SIMD8(lowHalf: w, highHalf: w &>> 4) & 0x0F0F_0F0F
}

/// Lane i holds `word` >> 4i: the fifth bits of weights 4i ..< 4i + 4 in its low four bits.
@inline(__always) private func fifthBitLanes(_ word: UInt32) -> SIMD8<UInt32> {
    SIMD8(repeating: word) &>> SIMD8(0, 4, 8, 12, 16, 20, 24, 28)
}

/// The low four bits of each lane of `fifthBitLanes` as 0x10 in bytes 0..<4: byte r of lane i
/// is the fifth bit of weight 4i + r, ready to OR onto the nibbles. One multiply spreads the four
/// bits into four bytes (n · 0x00204081 puts bit r of n at bit 8r, and no two shifted copies
/// overlap, so nothing carries). Taking bit r out per byte instead gave the optimiser a pattern it
/// rewrote into lane shuffles, at ~60 instructions per block.
@inline(__always) private func fifthBitBytes(_ lanes: SIMD8<UInt32>) -> SIMD8<UInt32> {
    (((lanes & 0xF) &* 0x0020_4081) & 0x0101_0101) &<< 4
}

/// Σ (q − bias)·x over a block's 32 codes, given byte r of lane i as code 4i + r.
@inline(__always) private func codeDot(_ v: SIMD8<UInt32>, _ bias: Float, _ x: UnsafePointer<Float>) -> SIMD8<Float> {
    var s = biased(byte(v, 0), bias) * load8(x, 0)
    s.addProduct(biased(byte(v, 1), bias), load8(x, 8))
    s.addProduct(biased(byte(v, 2), bias), load8(x, 16))
    s.addProduct(biased(byte(v, 3), bias), load8(x, 24))
    return s
}

/// The f16 at `offset` in every lane, converted with integer lane operations: its exponent and
/// mantissa moved into an f32's and rebiased by 2¹¹², exact for every finite half (subnormals
/// included); a non-finite half comes out as a finite ≥ 65536. A scalar conversion (vpinsrw +
/// vcvtph2ps) merged into the accumulator's register and chained each block to the last block's FMA.
@inline(__always) private func scale(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Float> {
    let h = SIMD8<UInt32>(repeating: UInt32(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    let magnitude = unsafeBitCast((h & 0x7FFF) &<< 13, to: SIMD8<Float>.self) * 0x1p112
    return unsafeBitCast(unsafeBitCast(magnitude, to: SIMD8<UInt32>.self) | ((h & 0x8000) &<< 16), to: SIMD8<Float>.self)
}

@inline(__always) private func sum32(_ x: UnsafePointer<Float>) -> SIMD8<Float> {
    (load8(x, 0) + load8(x, 8)) + (load8(x, 16) + load8(x, 24))
}

/// Σ over a row's blocks of `block(p, x)`, each block's sum scaled inside `block`.
@inline(__always) private func rowDot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ blocks: Int, _ bytes: Int,
                                      _ block: (UnsafeRawPointer, UnsafePointer<Float>, inout SIMD8<Float>) -> Void) -> Float {
    var acc = SIMD8<Float>()
    for b in 0..<blocks { block(src + b * bytes, x + 32 * b, &acc) }
    return acc.sum()
}

extension Q8_0SIMD {
    #if LANTERN_AVX512
    static var readsBlockOrder: Bool { false }

    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        AVX512RowDots.q8_0(src, x, blocks: blocks)
    }
    #else
    static var readsBlockOrder: Bool { true }

    /// q is a signed byte: flipping its top bit gives q + 128.
    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        rowDot(src, x, blocks, 34) { p, x, acc in
            let v = p.loadUnaligned(fromByteOffset: 2, as: SIMD8<UInt32>.self) ^ 0x8080_8080
            acc.addProduct(codeDot(v, 128, x), scale(p, 0))
        }
    }
    #endif
}

extension Q4_0SIMD {
    static var readsBlockOrder: Bool { true }


    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        #if LANTERN_AVX512
        return AVX512RowDots.q4_0(src, x, blocks: blocks)
        #else
        return rowDot(src, x, blocks, 18) { p, x, acc in
            acc.addProduct(codeDot(nibbles(p, 2), 8, x), scale(p, 0))
        }
        #endif
    }
}

extension Q4_1SIMD {
    static var readsBlockOrder: Bool { true }


    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        #if LANTERN_AVX512
        return AVX512RowDots.q4_1(src, x, blocks: blocks)
        #else
        return rowDot(src, x, blocks, 20) { p, x, acc in
            acc.addProduct(codeDot(nibbles(p, 4), 0, x), scale(p, 0))
            acc.addProduct(sum32(x), scale(p, 2))
        }
        #endif
    }
}

/// A Q5 block's 5-bit codes in the word order: nibbles at `codes`, fifth bits in the word at `bits`.
@inline(__always) func fiveBitCodes(_ p: UnsafeRawPointer, bits: Int, codes: Int) -> SIMD8<UInt32> {
    nibbles(p, codes) | fifthBitBytes(fifthBitLanes(p.loadUnaligned(fromByteOffset: bits, as: UInt32.self).littleEndian))
}

/// Σ (q − bias)·x over a Q5 block's codes: nibbles at `codes`, fifth bits in the word at `bits`.
@inline(__always) private func fiveBitDot(_ p: UnsafeRawPointer, bits: Int, codes: Int, bias: Float,
                                          _ x: UnsafePointer<Float>) -> SIMD8<Float> {
    codeDot(fiveBitCodes(p, bits: bits, codes: codes), bias, x)
}

// Plain loops, not `rowDot`'s closure: with the fifth bits, the closure stayed a call per block.

extension Q5_0SIMD {
    #if LANTERN_AVX512
    static var readsBlockOrder: Bool { false }
    #else
    static var readsBlockOrder: Bool { true }
    #endif

    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        #if LANTERN_AVX512
        return AVX512RowDots.q5_0(src, x, blocks: blocks)
        #else
        var acc = SIMD8<Float>()
        for b in 0..<blocks {
            let p = src + b * 22
            acc.addProduct(fiveBitDot(p, bits: 2, codes: 6, bias: 16, x + 32 * b), scale(p, 0))
        }
        return acc.sum()
        #endif
    }
}

extension Q5_1SIMD {
    static var readsBlockOrder: Bool { true }


    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        #if LANTERN_AVX512
        return AVX512RowDots.q5_1(src, x, blocks: blocks)
        #else
        var acc = SIMD8<Float>()
        for b in 0..<blocks {
            let p = src + b * 24
            acc.addProduct(fiveBitDot(p, bits: 4, codes: 8, bias: 0, x + 32 * b), scale(p, 0))
            acc.addProduct(sum32(x + 32 * b), scale(p, 2))
        }
        return acc.sum()
        #endif
    }
}

// Q6_K: 256 weights per block in two halves of 128, each in four quarters of 32. Read as words, with
// W1 = ql[0..<32], W2 = ql[32..<64] and H = qh[0..<32] of the half, byte r of lane i holds weight
// 4i + r of each quarter: low four bits from W1 & 0xF, W2 & 0xF, W1 >> 4, W2 >> 4, the top two from
// H's bits 0-1, 2-3, 4-5, 6-7. Each quarter has two scales: lanes 0..<4 take the first (weights
// 0..<16), lanes 4..<8 the second.

extension Q6_KSIMD {
    static var readsBlockOrder: Bool { true }

    /// The codes of the four quarters of half h: (W1 & 0xF, W2 & 0xF, W1 >> 4, W2 >> 4), each with
    /// its two top bits from H. Constant shifts only: with the quarter as a variable, the compiler
    /// took the words apart lane by lane (Q6_K decode ran at 1.7 GB/s).
    @inline(__always) static func codes(_ p: UnsafeRawPointer, _ h: Int) -> (SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>) {
        let w1 = p.loadUnaligned(fromByteOffset: 64 * h, as: SIMD8<UInt32>.self)
        let w2 = p.loadUnaligned(fromByteOffset: 64 * h + 32, as: SIMD8<UInt32>.self)
        let top = p.loadUnaligned(fromByteOffset: 128 + 32 * h, as: SIMD8<UInt32>.self)
        let mask: SIMD8<UInt32> = SIMD8(repeating: 0x0F0F_0F0F), two: SIMD8<UInt32> = SIMD8(repeating: 0x0303_0303)
        return ((w1 & mask) | ((top & two) &<< 4),
                (w2 & mask) | (((top &>> 2) & two) &<< 4),
                ((w1 &>> 4) & mask) | (((top &>> 4) & two) &<< 4),
                ((w2 &>> 4) & mask) | (((top &>> 6) & two) &<< 4))
    }

    /// The scales of quarter q of half h as d·s: lanes 0..<4 the first (weights 0..<16), 4..<8 the
    /// second. The two signed bytes are widened with lane operations (a scalar int-to-float
    /// conversion would merge into a live register, as the f16 one did).
    @inline(__always) static func scales(_ p: UnsafeRawPointer, _ h: Int, _ q: Int, _ d: SIMD8<Float>) -> SIMD8<Float> {
        let pair = SIMD8<UInt32>(repeating: UInt32(p.loadUnaligned(fromByteOffset: 192 + 8 * h + 2 * q, as: UInt16.self)))
        let bytes = ((pair &>> SIMD8(0, 0, 0, 0, 8, 8, 8, 8)) & 0xFF) ^ 0x80
        return d * biased(bytes, 128)
    }

    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        for b in 0..<blocks {
            let p = src + b * 210, d = SIMD8<Float>(repeating: halfAtEnd(p, 208)), xb = x + 256 * b
            for h in 0..<2 {
                let (c0, c1, c2, c3) = codes(p, h), xh = xb + 128 * h
                acc0.addProduct(codeDot(c0, 32, xh), scales(p, h, 0, d))
                acc1.addProduct(codeDot(c1, 32, xh + 32), scales(p, h, 1, d))
                acc0.addProduct(codeDot(c2, 32, xh + 64), scales(p, h, 2, d))
                acc1.addProduct(codeDot(c3, 32, xh + 96), scales(p, h, 3, d))
            }
        }
        return (acc0 + acc1).sum()
    }

    @inline(__always) static func decodeBlockOrder(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = SIMD8<Float>(repeating: halfAtEnd(p, 208))
        for h in 0..<2 {
            @inline(__always) func put(_ codes: SIMD8<UInt32>, _ q: Int) {
                let s = scales(p, h, q, d)
                for r in 0..<4 { store(s * biased(byte(codes, UInt32(r)), 32), out + 128 * h + 32 * q + 8 * r) }
            }
            let (c0, c1, c2, c3) = codes(p, h)
            put(c0, 0); put(c1, 1); put(c2, 2); put(c3, 3)
        }
    }
}

// Block decoding in the same lane order, for the packed GEMM's panels (QuantPackedMatmul):
// out[8r + i] = weight 4i + r, each weight exactly the reference decoder's q·d (+ m).

extension Q8_0SIMD {
    @inline(__always) static func decodeBlockOrder(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let v = p.loadUnaligned(fromByteOffset: 2, as: SIMD8<UInt32>.self) ^ 0x8080_8080, d = scale(p, 0)
        for r in 0..<4 { store(biased(byte(v, UInt32(r)), 128) * d, out + 8 * r) }
    }
}

extension Q4_0SIMD {
    @inline(__always) static func decodeBlockOrder(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let v = nibbles(p, 2), d = scale(p, 0)
        for r in 0..<4 { store(biased(byte(v, UInt32(r)), 8) * d, out + 8 * r) }
    }
}

extension Q4_1SIMD {
    @inline(__always) static func decodeBlockOrder(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let v = nibbles(p, 4), d = scale(p, 0), m = scale(p, 2)
        for r in 0..<4 { store(biased(byte(v, UInt32(r)), 0) * d + m, out + 8 * r) }
    }
}

extension Q5_0SIMD {
    @inline(__always) static func decodeBlockOrder(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let v = fiveBitCodes(p, bits: 2, codes: 6), d = scale(p, 0)
        for r in 0..<4 { store(biased(byte(v, UInt32(r)), 16) * d, out + 8 * r) }
    }
}

extension Q5_1SIMD {
    @inline(__always) static func decodeBlockOrder(_ p: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let v = fiveBitCodes(p, bits: 4, codes: 8), d = scale(p, 0), m = scale(p, 2)
        for r in 0..<4 { store(biased(byte(v, UInt32(r)), 0) * d + m, out + 8 * r) }
    }
}

@inline(__always) private func store(_ v: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(out).storeBytes(of: v, as: SIMD8<Float>.self)
}
