import LanternCore

// Row dots of the 256-weight K-quant blocks, scales applied per sub-block (see QuantRowDot.swift):
// Q4_K's w = d·q − m per 32 weights gives d·Σ q·x − m·Σ x; Q6_K's w = d·s·(q − 32) per 16 weights
// gives d·s·Σ (q − 32)·x. The codes stay integers until one exact conversion per lane.
//
// Each conversion (a generic SIMD initialiser) must have one call site inside a loop: with more
// sites, or outside a loop, the optimiser leaves them as calls, and decode runs at half speed.

@inline(__always) private func load8(_ x: UnsafePointer<Float>, _ at: Int) -> SIMD8<Float> {
    UnsafeRawPointer(x + at).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) private func unsigned8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Int32> {
    SIMD8<Int32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt8>.self))
}

extension Q4_KSIMD {
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
}

extension Q6_KSIMD {
    /// One loop over the block's eight groups of 4 × 8 weights, so that each conversion has one
    /// call site in a loop (more sites, or none in a loop, and the optimiser left them as calls).
    @inline(never) static func dot(_ src: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        for b in 0..<blocks {
            let p = src + b * 210, xb = x + b * 256
            let d = halfAtEnd(p, 208)
            for g in 0..<8 {
                // Half h of the block, lanes l..<l+8 of each of its four quarters; sixteen weights
                // (l = 0..<16 or 16..<32) share a scale.
                let h = g >> 2, l = 8 * (g & 3), part = l >> 4
                let ql = 64 * h, qh = 128 + 32 * h, sc = 192 + 8 * h + part, at = 128 * h + l
                let lo = unsigned8(p, ql + l), hi = unsigned8(p, ql + l + 32), top = unsigned8(p, qh + l)
                func scale(_ k: Int) -> SIMD8<Float> {
                    SIMD8(repeating: d * Float(p.load(fromByteOffset: sc + k, as: Int8.self)))
                }
                acc0.addProduct(SIMD8<Float>(((lo & 0x0F) | ((top & 0x03) &<< 4)) &- 32) * load8(xb, at), scale(0))
                acc1.addProduct(SIMD8<Float>(((hi & 0x0F) | ((top & 0x0C) &<< 2)) &- 32) * load8(xb, at + 32), scale(2))
                acc0.addProduct(SIMD8<Float>(((lo &>> 4) | (top & 0x30)) &- 32) * load8(xb, at + 64), scale(4))
                acc1.addProduct(SIMD8<Float>(((hi &>> 4) | ((top & 0xC0) &>> 2)) &- 32) * load8(xb, at + 96), scale(6))
            }
        }
        return (acc0 + acc1).sum()
    }
}
