import CPUKernelChoice
import Foundation
import LanternCore
import XCTest

/// The KL kernel of the lens and SAE fine-tuning objectives, on every build this machine runs,
/// against a float64 loop: KL(p ‖ softmax(z)) and the gradient scale · (q − p) (× tanh′ under a
/// softcap), on rows whose length is and is not a multiple of the eight lanes, with target
/// entries that underflow to p = 0.
final class KLDivergenceKernelTests: XCTestCase {
    static func reference(_ z: [Float], _ logP: [Float], scale: Double, softcap: Double) -> (kl: Double, gradient: [Double]) {
        let top = Double(z.max()!)
        let logSum = top + log(z.reduce(0.0) { $0 + exp(Double($1) - top) })
        var kl = 0.0, gradient: [Double] = []
        for j in z.indices {
            let l = Double(logP[j]), logQ = Double(z[j]) - logSum
            let p = exp(l), q = exp(logQ)
            if p > 0 { kl += p * (l - logQ) }
            var g = scale * (q - p)
            if softcap > 0 { g *= 1 - pow(Double(z[j]) / softcap, 2) }
            gradient.append(g)
        }
        return (kl, gradient)
    }

    func testEveryBuildMatchesFloat64() throws {
        var rng = SplitMix64(seed: 29)
        for count in [7, 8, 1003, 262_147] {
            let target = (0..<count).map { _ in Float.random(in: -6...6, using: &rng) }
            var logP = LensDivergenceReference.logSoftmax(target)
            logP[count / 2] = -200  // p underflows to 0 in f32
            for softcap: Float in [0, 30] {
                let z = (0..<count).map { _ in softcap > 0 ? Float.random(in: -25...25, using: &rng) : Float.random(in: -8...8, using: &rng) }
                let expected = Self.reference(z, logP, scale: 0.25, softcap: Double(softcap))
                let largest = expected.gradient.map(abs).max()!
                for isa in KernelChoice.supported {
                    let kernels = KernelChoice.kernels(isa)!
                    var out = z
                    let kl = out.withUnsafeMutableBufferPointer { zb in
                        logP.withUnsafeBufferPointer { kernels.klAndGradient(zb.baseAddress!, logP: $0.baseAddress!, count: count, scale: 0.25, softcap: softcap) }
                    }
                    let what = "\(isa.rawValue) count \(count) softcap \(softcap)"
                    XCTAssertEqual(kl, expected.kl, accuracy: 2e-6 * max(1, abs(expected.kl)), what)
                    let worst = zip(out, expected.gradient).map { abs(Double($0) - $1) }.max()!
                    XCTAssertLessThan(worst / largest, 2e-6, what)
                }
            }
        }
    }
}

/// log-softmax in float64, rounded to f32.
enum LensDivergenceReference {
    static func logSoftmax(_ x: [Float]) -> [Float] {
        let top = Double(x.max()!)
        let logSum = top + log(x.reduce(0.0) { $0 + exp(Double($1) - top) })
        return x.map { Float(Double($0) - logSum) }
    }
}
