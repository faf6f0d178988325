@testable import CPUBackend
@testable import CPUKernels
import Foundation
import LanternCore
import XCTest

/// The vectorised gated activations against double-precision GELU (tanh form) and SiLU.
final class ActivationKernelTests: XCTestCase {
    /// 0.5·x·(1 + tanh u) as x / (1 + e^(−2u)), its exact equal, in double (1 + tanh u itself
    /// rounds to 0 in double for u below about −19).
    func geluDouble(_ x: Double) -> Double { x / (1 + exp(-2 * (2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }
    func siluDouble(_ x: Double) -> Double { x / (1 + exp(-x)) }

    func testLanesAgainstDoubleReference() {
        var xs: [Float] = stride(from: -30, through: 30, by: 0.0137).map { Float($0) }
        xs += [0, -0, 1e-30, -1e-30, 1e-7, -1e-7, -50, -88, -100, -1e4, 50, 100, 1e4, .greatestFiniteMagnitude / 2]
        for (name, f8, ref) in [("gelu", GatedActivations.geluTanh8, geluDouble), ("silu", GatedActivations.silu8, siluDouble)]
            as [(String, (SIMD8<Float>) -> SIMD8<Float>, (Double) -> Double)] {
            var worst = 0.0
            for base in stride(from: 0, to: xs.count, by: 8) {
                var v = SIMD8<Float>()
                for t in 0..<8 { v[t] = xs[min(base + t, xs.count - 1)] }
                let got = f8(v)
                for t in 0..<8 {
                    let x = Double(v[t]), want = ref(x)
                    let error = abs(Double(got[t]) - want)
                    // Relative to the value, with an absolute floor where it underflows: the kernel
                    // caps the exponent at 88, so x / (1 + e^88) stands for a value below 1e-38.
                    let allowed = max(1e-5 * abs(want), 1e-33)
                    XCTAssertLessThanOrEqual(error, allowed, "\(name)(\(x)) = \(got[t]), want \(want)")
                    if abs(want) > 1e-30 { worst = max(worst, error / abs(want)) }
                }
            }
            // e^(−2u) carries u's rounding times |2u|: ~7e-6 relative at x ≈ −3.5, where the value is
            // ~5e-4. The f32 form 0.5·x·(1 + tanh u) (Reference.geluTanh, and transformers) loses
            // far more there: 1 + tanh u cancels to a few bits.
            XCTAssertLessThan(worst, 1e-5, name)
            XCTAssertTrue(f8(SIMD8(repeating: .nan))[0].isNaN, "\(name) passes NaN through")
        }
    }

    /// The exact (erf) GELU of the ungated kernel against double precision, relative to each
    /// value down to where it underflows: erfc keeps x ≪ 0 accurate where 1 + erf would cancel.
    /// What remains is x/√2 rounded to f32 (as torch rounds it): erfc(z) moves by 2z² times that
    /// relative error, ~1e-5 of a value of 1e-32 at x = −12.
    func testExactGELUAgainstDouble() throws {
        let xs: [Float] = stride(from: -12, through: 12, by: 0.0173).map { Float($0) } + [0, 1e-30, -1e-30, 50, -50]
        let backend = CPUBackend()
        let got = try backend.read(try backend.gelu(try backend.tensor(xs, shape: [xs.count]), approximation: .erf))
        for (x, y) in zip(xs, got) {
            let want = 0.5 * Double(x) * erfc(-Double(x) / 2.0.squareRoot())
            let allowed = max(2e-6 * abs(want) * max(1, Double(x * x) / 4), 1e-37)
            XCTAssertLessThanOrEqual(abs(Double(y) - want), allowed, "gelu erf(\(x)) = \(y), want \(want)")
        }
    }

    func testGatedProductEveryLengthMatchesScalar() throws {
        let backend = CPUBackend()
        for count in [1, 7, 8, 9, 100, 8195] {
            let gate = (0..<count).map { Float(($0 * 37) % 200) / 10 - 10 }
            let up = (0..<count).map { Float(($0 * 11) % 50) / 25 - 1 }
            let got = try backend.read(try backend.gegluTanh(gate: try backend.tensor(gate, shape: [count]), up: try backend.tensor(up, shape: [count])))
            let gotSilu = try backend.read(try backend.swiglu(gate: try backend.tensor(gate, shape: [count]), up: try backend.tensor(up, shape: [count])))
            for i in 0..<count {
                let want = geluDouble(Double(gate[i])) * Double(up[i]), wantSilu = siluDouble(Double(gate[i])) * Double(up[i])
                XCTAssertEqual(Double(got[i]), want, accuracy: 2e-6 * max(1, abs(want)), "gelu count \(count) at \(i)")
                XCTAssertEqual(Double(gotSilu[i]), wantSilu, accuracy: 2e-6 * max(1, abs(wantSilu)), "silu count \(count) at \(i)")
            }
        }
    }
}
