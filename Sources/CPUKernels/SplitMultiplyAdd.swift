// The baseline x86-64 build has no FMA instruction (it came with AVX2), and a fused multiply-add
// there is a libm call per lane: the kernels ran ~100× slower than with two vector instructions.
// So in that build alone, the kernels' `addProduct` / `addingProduct` multiply, round, add and
// round again. Results differ from the wide builds' in the last bits of a sum (as one BLAS from
// another) and stay within every parity test's tolerance: CI runs the suite under
// LANTERN_ISA=baseline. These concrete-type extensions take precedence over the standard
// library's generic ones inside this module only.
#if arch(x86_64) && !LANTERN_AVX2 && !LANTERN_AVX512
extension Float {
    @_transparent mutating func addProduct(_ a: Float, _ b: Float) { self = self + a * b }
    @_transparent func addingProduct(_ a: Float, _ b: Float) -> Float { self + a * b }
}

extension SIMD4 where Scalar == Float {
    @_transparent mutating func addProduct(_ a: Self, _ b: Self) { self = self + a * b }
    @_transparent func addingProduct(_ a: Self, _ b: Self) -> Self { self + a * b }
}

extension SIMD8 where Scalar == Float {
    @_transparent mutating func addProduct(_ a: Self, _ b: Self) { self = self + a * b }
    @_transparent func addingProduct(_ a: Self, _ b: Self) -> Self { self + a * b }
}

extension SIMD16 where Scalar == Float {
    @_transparent mutating func addProduct(_ a: Self, _ b: Self) { self = self + a * b }
    @_transparent func addingProduct(_ a: Self, _ b: Self) -> Self { self + a * b }
}
#endif
