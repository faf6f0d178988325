/// The two inner loops of the sparse products, eight lanes at a time (with `-target-cpu haswell`
/// the body is one FMA per eight floats).
@inline(__always)
func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    var c = 0
    let a8 = SIMD8<Float>(repeating: a)
    let y8 = UnsafeMutableRawPointer(y), x8 = UnsafeRawPointer(x)
    while c + 8 <= n {
        let v = y8.loadUnaligned(fromByteOffset: c * 4, as: SIMD8<Float>.self)
            + a8 * x8.loadUnaligned(fromByteOffset: c * 4, as: SIMD8<Float>.self)
        y8.storeBytes(of: v, toByteOffset: c * 4, as: SIMD8<Float>.self)
        c += 8
    }
    while c < n { y[c] += a * x[c]; c += 1 }
}

@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var c = 0
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
    let a8 = UnsafeRawPointer(a), b8 = UnsafeRawPointer(b)
    while c + 16 <= n {
        s0 += a8.loadUnaligned(fromByteOffset: c * 4, as: SIMD8<Float>.self) * b8.loadUnaligned(fromByteOffset: c * 4, as: SIMD8<Float>.self)
        s1 += a8.loadUnaligned(fromByteOffset: c * 4 + 32, as: SIMD8<Float>.self) * b8.loadUnaligned(fromByteOffset: c * 4 + 32, as: SIMD8<Float>.self)
        c += 16
    }
    var sum = (s0 + s1).sum()
    while c < n { sum += a[c] * b[c]; c += 1 }
    return sum
}
