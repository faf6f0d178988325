/// The two inner loops of SAE training's sparse products, sixteen lanes at a time: in the AVX-512
/// build the body is one load, one FMA and one store per sixteen floats (with AVX2, two halves of
/// eight).
enum VectorMath {
    @inline(__always)
    static func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        var c = 0
        let a16 = SIMD16<Float>(repeating: a)
        let y16 = UnsafeMutableRawPointer(y), x16 = UnsafeRawPointer(x)
        while c + 16 <= n {
            var v = y16.loadUnaligned(fromByteOffset: c * 4, as: SIMD16<Float>.self)
            v.addProduct(a16, x16.loadUnaligned(fromByteOffset: c * 4, as: SIMD16<Float>.self))
            y16.storeBytes(of: v, toByteOffset: c * 4, as: SIMD16<Float>.self)
            c += 16
        }
        while c < n { y[c].addProduct(a, x[c]); c += 1 }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var c = 0
        var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
        let a16 = UnsafeRawPointer(a), b16 = UnsafeRawPointer(b)
        while c + 32 <= n {
            s0.addProduct(a16.loadUnaligned(fromByteOffset: c * 4, as: SIMD16<Float>.self), b16.loadUnaligned(fromByteOffset: c * 4, as: SIMD16<Float>.self))
            s1.addProduct(a16.loadUnaligned(fromByteOffset: c * 4 + 64, as: SIMD16<Float>.self),
                          b16.loadUnaligned(fromByteOffset: c * 4 + 64, as: SIMD16<Float>.self))
            c += 32
        }
        // Halving sums: the stdlib's `sum()` adds the lanes one after another.
        let s16 = s0 + s1
        let s8 = s16.lowHalf + s16.highHalf
        let s4 = s8.lowHalf + s8.highHalf
        let s2 = s4.lowHalf + s4.highHalf
        var sum = s2[0] + s2[1]
        while c < n { sum.addProduct(a[c], b[c]); c += 1 }
        return sum
    }
}
