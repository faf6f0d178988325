// Decode's row dots for AVX-512 builds. Q4_0, Q4_1 and Q5_1 by table lookup. These types are
// bound by the instructions that turn their codes into floats, not by memory. Here a block's 16
// (or 32) possible weights, d·q + m exactly as `decodeBlockOrder` makes them, are built once per
// block in one vector, and each code becomes its weight with one lane permute (vpermps, or
// vpermt2ps for 32 entries), which reads only the low bits of each lane: no masks, no int-to-float
// conversions, no per-block scale multiply. A 16-byte code field is broadcast to all four
// 128-bit quarters and shifted by a different count per quarter, so lane 4a + i holds nibble a of
// word i at bit 0: BlockOrder's position 4a + i, so the activations keep `BlockOrder`.
//
// Each lane's product is an exact dequantised weight times its activation; the sum runs in another
// association than the reference's (the kernel tests hold every row dot to a double-precision sum).
// `lantern bench --only matvec`, 1024-wide rows, against the former two-blocks-per-vector dots:
// Q4_0 8–11 → 16–17 GB/s, Q4_1 8–10 → 18, Q5_0 8 → 14, Q5_1 8 → 13 (the streaming read: 21–23).
//
// Q4_K and Q5_K by table lookup too, per 32-weight sub-block (Q4_K 14–15 GB/s, was 9.5–10; Q5_K
// 8.4–9.5, was 2–2.5 through the generic per-weight path).
//
// Q8_0 by widening 16 bytes at a time (vpmovsxbd, vcvtdq2ps), and Q5_0 by a constant table and a
// masked add, each in its own order, so their activations stay in the stored order
// (`readsBlockOrder` is false on these builds).

#if LANTERN_AVX512
import CIntrinsics

enum AVX512RowDots {
    /// Lane 4a + i: nibble a of word i (the low nibble of byte a / 2, or its high nibble for odd a)
    /// for BlockOrder positions 0..<16; add 16 for positions 16..<32.
    @inline(__always) static var shifts: SIMD16<UInt32> { SIMD16(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12) }

    /// Left rotations that bring the fifth bit of each lane's weight (bit j of the Q5 blocks' word
    /// `qh` for weight j) to bit 4, for positions 0..<16 and 16..<32: (4 − j) mod 32.
    @inline(__always) static var rotations0: SIMD16<UInt32> { SIMD16(4, 0, 28, 24, 20, 16, 12, 8, 3, 31, 27, 23, 19, 15, 11, 7) }
    @inline(__always) static var rotations1: SIMD16<UInt32> { SIMD16(2, 30, 26, 22, 18, 14, 10, 6, 1, 29, 25, 21, 17, 13, 9, 5) }

    @inline(__always) static var codes16: SIMD16<Float> { SIMD16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) }

    /// The block's 16 code bytes at `offset`, in every 128-bit quarter.
    @inline(__always) static func codeWords(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<UInt32> {
        lantern_broadcast_quarter(p + offset)
    }

    @inline(__always) static func load16(_ x: UnsafePointer<Float>, _ at: Int) -> SIMD16<Float> {
        UnsafeRawPointer(x + at).loadUnaligned(as: SIMD16<Float>.self)
    }

    /// The 5-bit codes of positions 0..<16 (`rotations0`) or 16..<32: the nibble from `words`
    /// shifted, bit 4 and up from the fifth-bit word rotated (the lookup reads only bits 0..<5),
    /// merged under the mask `nibble` (0xF in every lane).
    @inline(__always) static func fiveBitIndex(_ words: SIMD16<UInt32>, _ shift: SIMD16<UInt32>, _ high: SIMD16<UInt32>,
                                               _ rotation: SIMD16<UInt32>, _ nibble: SIMD16<UInt32>) -> SIMD16<UInt32> {
        let fifth = (high &<< rotation) | (high &>> (32 &- rotation))
        return lantern_select_bits(nibble, words &>> shift, fifth)
    }

    /// Σ of both accumulators' lanes, halving the width (`Kernels.laneSum`).
    @inline(__always) static func total(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> Float {
        let s = a + b
        return Kernels.laneSum(s.lowHalf + s.highHalf)
    }

    /// Σ w·x over a row of 32-weight blocks of `bytes` bytes, their 16 code bytes at `codeOffset`,
    /// each block's 16 possible weights from `table` (Q4_0 and Q4_1).
    @inline(__always) static func nibbleDot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int, bytes: Int,
                                            codeOffset: Int, table: (UnsafeRawPointer) -> SIMD16<Float>) -> Float {
        let s0 = lantern_opaque_u32x16(shifts), s1 = lantern_opaque_u32x16(shifts &+ 16)
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        for b in 0..<blocks {
            let p = src + bytes * b, xb = x + 32 * b
            let weights = table(p), w = codeWords(p, codeOffset)
            acc0.addProduct(lantern_lookup16(weights, w &>> s0), load16(xb, 0))
            acc1.addProduct(lantern_lookup16(weights, w &>> s1), load16(xb, 16))
        }
        return total(acc0, acc1)
    }

    /// w = d·(q − 8).
    @inline(__always) static func q4_0(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        let codes = lantern_opaque_f32x16(codes16 - 8)
        return nibbleDot(src, x, blocks: blocks, bytes: 18, codeOffset: 2) { p in codes * SIMD16(repeating: lantern_halves4(p)[0]) }
    }

    /// w = d·q + m.
    @inline(__always) static func q4_1(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        let codes = lantern_opaque_f32x16(codes16)
        return nibbleDot(src, x, blocks: blocks, bytes: 20, codeOffset: 4) { p in
            let dm = lantern_halves4(p)
            return codes * SIMD16(repeating: dm[0]) + SIMD16(repeating: dm[1])
        }
    }

    /// Q5_0 in the stored order, d factored out of each block: lane j of the two halves is weight j
    /// (the low nibble of byte j) and weight j + 16 (its high nibble), each nibble looked up as the
    /// exact float q − 16 in a constant table, and 16 added where the block's word `qh` sets the
    /// fifth bit (a mask register: bit j is weight j's). Σ d·(q − 16)·x as d·Σ (q − 16)·x, the
    /// generic row dots' association. No per-block table and no shift-and-rotate of the fifth bits:
    /// 11 vector instructions and two mask loads a block. `bench --only matvec`, three runs of each
    /// build interleaved: Q5_0 read at 1.04× Q5_1's rate through the table lookup, 1.21–1.66× now.
    @inline(__always) static func q5_0(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        let codes = lantern_opaque_f32x16(codes16 - 16), sixteen = lantern_opaque_f32x16(SIMD16(repeating: 16))
        /// Σ (q − 16)·x over the block at `p`.
        @inline(__always) func codeSum(_ p: UnsafeRawPointer, _ xb: UnsafePointer<Float>) -> SIMD16<Float> {
            let bytes = lantern_bytes16(p + 6), fifth = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
            let low = lantern_add_where(lantern_lookup16(codes, bytes), UInt16(truncatingIfNeeded: fifth), sixteen)
            let high = lantern_add_where(lantern_lookup16(codes, bytes &>> 4), UInt16(truncatingIfNeeded: fifth >> 16), sixteen)
            var s = low * load16(xb, 0)
            s.addProduct(high, load16(xb, 16))
            return s
        }
        // Two blocks per step into two accumulators: each block's scale multiply waits on its sum.
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var b = 0
        while b + 2 <= blocks {
            let p = src + 22 * b, xb = x + 32 * b
            acc0.addProduct(codeSum(p, xb), lantern_half16(p))
            acc1.addProduct(codeSum(p + 22, xb + 32), lantern_half16(p + 22))
            b += 2
        }
        if b < blocks { acc0.addProduct(codeSum(src + 22 * b, x + 32 * b), lantern_half16(src + 22 * b)) }
        return total(acc0, acc1)
    }

    @inline(__always) static func q5_1(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        let s0 = lantern_opaque_u32x16(shifts), s1 = lantern_opaque_u32x16(shifts &+ 16)
        let r0 = lantern_opaque_u32x16(rotations0), r1 = lantern_opaque_u32x16(rotations1)
        let nibble = lantern_opaque_u32x16(SIMD16(repeating: 0xF))
        let low = lantern_opaque_f32x16(codes16), high = lantern_opaque_f32x16(codes16 + 16)
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        for b in 0..<blocks {
            let p = src + 24 * b, xb = x + 32 * b
            let dm = lantern_halves4(p)
            let d = SIMD16(repeating: dm[0]), m = SIMD16(repeating: dm[1])
            let fifth = SIMD16(repeating: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian)
            let w = codeWords(p, 8)
            let lowTable = low * d + m, highTable = high * d + m
            acc0.addProduct(lantern_lookup32(lowTable, highTable, fiveBitIndex(w, s0, fifth, r0, nibble)), load16(xb, 0))
            acc1.addProduct(lantern_lookup32(lowTable, highTable, fiveBitIndex(w, s1, fifth, r1, nibble)), load16(xb, 16))
        }
        return total(acc0, acc1)
    }

    @inline(__always) static func q8_0(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var b = 0
        // Two blocks per step into two accumulators: each block's scale multiply waits on its sum.
        while b + 2 <= blocks {
            let p = src + 34 * b, xb = x + 32 * b
            var s0 = lantern_signed_bytes16(p + 2) * load16(xb, 0)
            s0.addProduct(lantern_signed_bytes16(p + 18), load16(xb, 16))
            var s1 = lantern_signed_bytes16(p + 36) * load16(xb, 32)
            s1.addProduct(lantern_signed_bytes16(p + 52), load16(xb, 48))
            acc0.addProduct(s0, lantern_half16(p))
            acc1.addProduct(s1, lantern_half16(p + 34))
            b += 2
        }
        if b < blocks {
            let p = src + 34 * b, xb = x + 32 * b
            var s = lantern_signed_bytes16(p + 2) * load16(xb, 0)
            s.addProduct(lantern_signed_bytes16(p + 18), load16(xb, 16))
            acc0.addProduct(s, lantern_half16(p))
        }
        return total(acc0, acc1)
    }

    /// Q4_K: per 64 weights, the two sub-blocks' tables d·q − m, and 16 code bytes at a time widened
    /// into lanes (their low nibbles index the first table as they are, their high nibbles after a
    /// shift index the second), so the activations stay in the stored order.
    @inline(__always) static func q4_K(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        let codes = lantern_opaque_f32x16(codes16)
        // Four accumulators: with two, each waited on its last FMA (eight per 64 weights).
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>(), acc2 = SIMD16<Float>(), acc3 = SIMD16<Float>()
        for b in 0..<blocks {
            let p = src + 144 * b, xb = x + 256 * b
            let scales = lantern_k_scales(p)
            for j in 0..<4 {
                let low = codes * SIMD16(repeating: scales[2 * j]) - SIMD16(repeating: scales[8 + 2 * j])
                let high = codes * SIMD16(repeating: scales[2 * j + 1]) - SIMD16(repeating: scales[9 + 2 * j])
                let first = lantern_bytes16(p + 16 + 32 * j), second = lantern_bytes16(p + 32 + 32 * j)
                acc0.addProduct(lantern_lookup16(low, first), load16(xb, 64 * j))
                acc1.addProduct(lantern_lookup16(low, second), load16(xb, 64 * j + 16))
                acc2.addProduct(lantern_lookup16(high, first &>> 4), load16(xb, 64 * j + 32))
                acc3.addProduct(lantern_lookup16(high, second &>> 4), load16(xb, 64 * j + 48))
            }
        }
        return total(acc0 + acc1, acc2 + acc3)
    }

    /// Q5_K: Q4_K's layout plus a fifth bit per weight (bit 2j or 2j + 1 of byte l of `qh`, for
    /// sub-block 2j or 2j + 1), so each sub-block has a 32-entry table, d·scale·c − dmin·min for
    /// c < 32, and the fifth bit is shifted to bit 4 of the index.
    @inline(__always) static func q5_K(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        let codes = lantern_opaque_f32x16(codes16), upper = lantern_opaque_f32x16(codes16 + 16)
        let nibble = lantern_opaque_u32x16(SIMD16(repeating: 0xF))
        /// Bit `bit` of each lane moved to bit 4 (the bits around it are not read).
        @inline(__always) func toBit4(_ v: SIMD16<UInt32>, _ bit: UInt32) -> SIMD16<UInt32> {
            bit <= 4 ? v &<< (4 - bit) : v &>> (bit - 4)
        }
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>(), acc2 = SIMD16<Float>(), acc3 = SIMD16<Float>()
        for b in 0..<blocks {
            let p = src + 176 * b, xb = x + 256 * b
            let scales = lantern_k_scales(p)
            let fifth0 = lantern_bytes16(p + 16), fifth1 = lantern_bytes16(p + 32)
            for j in 0..<4 {
                let s0 = SIMD16(repeating: scales[2 * j]), m0 = SIMD16(repeating: scales[8 + 2 * j])
                let s1 = SIMD16(repeating: scales[2 * j + 1]), m1 = SIMD16(repeating: scales[9 + 2 * j])
                let (low0, low1) = (codes * s0 - m0, upper * s0 - m0)
                let (high0, high1) = (codes * s1 - m1, upper * s1 - m1)
                let first = lantern_bytes16(p + 48 + 32 * j), second = lantern_bytes16(p + 64 + 32 * j)
                let (lowBit, highBit) = (UInt32(2 * j), UInt32(2 * j + 1))
                acc0.addProduct(lantern_lookup32(low0, low1, lantern_select_bits(nibble, first, toBit4(fifth0, lowBit))), load16(xb, 64 * j))
                acc1.addProduct(lantern_lookup32(low0, low1, lantern_select_bits(nibble, second, toBit4(fifth1, lowBit))), load16(xb, 64 * j + 16))
                acc2.addProduct(lantern_lookup32(high0, high1, lantern_select_bits(nibble, first &>> 4, toBit4(fifth0, highBit))),
                                load16(xb, 64 * j + 32))
                acc3.addProduct(lantern_lookup32(high0, high1, lantern_select_bits(nibble, second &>> 4, toBit4(fifth1, highBit))),
                                load16(xb, 64 * j + 48))
            }
        }
        return total(acc0 + acc1, acc2 + acc3)
    }
}
#endif
