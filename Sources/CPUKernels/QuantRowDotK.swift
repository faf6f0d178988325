import LanternCore

// The row dot of Q4_K (256-weight blocks), scales applied per sub-block (see QuantRowDot.swift):
// w = d·q − m per 32 weights gives d·Σ q·x − m·Σ x. The codes stay integers until one exact
// conversion per lane. (Q6_K reads its codes as words, in QuantRowDot.swift.)
//
// AVX-512 builds take Q4_K by table lookup instead (`AVX512RowDots.q4_K`). Here, each conversion (a generic SIMD initialiser) must have one call site inside a loop: with more
// sites, or outside a loop, the optimiser leaves them as calls, and decode runs at half speed.
// So this dot stays a function of its own: inlined into `QuantMatmul.dotRows`, its conversions
// became calls again (2.4 GB/s against 9.6).

@inline(__always) private func load8(_ x: UnsafePointer<Float>, _ at: Int) -> SIMD8<Float> {
    UnsafeRawPointer(x + at).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) private func unsigned8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Int32> {
    SIMD8<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt8>.self))
}

extension Q4_KSIMD {
    #if LANTERN_AVX512
    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        AVX512RowDots.q4_K(src, x, blocks: blocks)
    }
    #else
    @inline(never) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var scaled = SIMD8<Float>(), offsets = SIMD8<Float>()
        for b in 0..<blocks {
            let p = src + b * 144, xb = x + b * 256
            let (s, m) = kScales(p)
            for j in 0..<4 {
                var low = SIMD8<Float>(), high = SIMD8<Float>(), sumLow = SIMD8<Float>(), sumHigh = SIMD8<Float>()
                for c in 0..<4 {
                    let q = unsigned8(p, 16 + 32 * j + 8 * c)
                    let xl = load8(xb, 64 * j + 8 * c), xh = load8(xb, 64 * j + 32 + 8 * c)
                    low.addProduct(SIMD8<Float>(q & 0x0F), xl)
                    high.addProduct(SIMD8<Float>(q &>> 4), xh)
                    sumLow += xl
                    sumHigh += xh
                }
                scaled.addProduct(low, SIMD8(repeating: s[2 * j]))
                scaled.addProduct(high, SIMD8(repeating: s[2 * j + 1]))
                offsets.addProduct(sumLow, SIMD8(repeating: m[2 * j]))
                offsets.addProduct(sumHigh, SIMD8(repeating: m[2 * j + 1]))
            }
        }
        return (scaled - offsets).sum()
    }
    #endif
}

#if LANTERN_AVX512
extension Q5_KSIMD {
    @inline(__always) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        AVX512RowDots.q5_K(src, x, blocks: blocks)
    }
}
#endif
