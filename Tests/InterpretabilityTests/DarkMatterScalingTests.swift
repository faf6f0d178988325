import CPUBackend
import Models
import XCTest
@testable import Interpretability

/// The width-sweep fit and the linear split of SAE error, on data whose answers are known.
final class DarkMatterScalingTests: XCTestCase {
    func testFitRecoversAPowerLawWithAFloor() throws {
        let widths = [512.0, 1024, 2048, 4096, 8192, 16384]
        let fvu = widths.map { 3.0 * pow($0, -0.45) + 0.02 }
        let fit = try XCTUnwrap(ScalingFit.fit(widths: widths, fvu: fvu))
        XCTAssertEqual(fit.c, 0.02, accuracy: 2e-4)
        XCTAssertEqual(fit.b, 0.45, accuracy: 0.01)
        XCTAssertEqual(fit.a, 3.0, accuracy: 0.15)
        XCTAssertLessThan(fit.rmsLogError, 1e-3)
        XCTAssertNil(ScalingFit.fit(widths: [1, 2], fvu: [0.5, 0.4]), "three points at least")
    }

    func testFitOfAPurePowerLawHasNoFloor() throws {
        let widths = [100.0, 400, 1600, 6400]
        let fit = try XCTUnwrap(ScalingFit.fit(widths: widths, fvu: widths.map { 2 * pow($0, -0.3) }))
        XCTAssertLessThan(fit.c, 1e-3 * fit.predict(6400))
        XCTAssertEqual(fit.b, 0.3, accuracy: 0.01)
    }

    /// e = x·M + β exactly: all of it is predictable; independent noise: none of it is.
    func testLinearPredictionSplitsLinearFromUnpredictableError() throws {
        let backend = CPUBackend()
        let d = 6, n = 3000
        var random = SeededGenerator(seed: 11)
        let x = (0..<(n * d)).map { i in Float.random(in: -1...1, using: &random) * (i % d == 2 ? 300 : 1) + (i % d == 2 ? 1000 : 0) }
        let m = (0..<(d * d)).map { _ in Float.random(in: -0.5...0.5, using: &random) }
        var linear = [Float](repeating: 0, count: n * d)
        for r in 0..<n { for j in 0..<d {
            var v: Float = 0.25
            for q in 0..<d { v += x[r * d + q] * m[q * d + j] / (q == 2 ? 300 : 1) }
            linear[r * d + j] = v
        } }
        let noise = (0..<(n * d)).map { _ in Float.random(in: -1...1, using: &random) }
        let half = n / 2 * d
        func share(_ e: [Float]) throws -> Double {
            var p = LinearErrorPrediction(width: d, sample: Array(x[..<half]))
            try p.fit(x: Array(x[..<half]), error: Array(e[..<half]), backend: backend)
            try p.score(x: Array(x[half...]), error: Array(e[half...]), backend: backend)
            return p.predictableFraction
        }
        XCTAssertEqual(try share(linear), 1, accuracy: 1e-4)
        XCTAssertEqual(try share(noise), 0, accuracy: 0.02)
        let mixed = zip(linear, noise).map { $0 + $1 }
        let expected = linear.suffix(from: half).reduce(0.0) { $0 + Double($1 * $1) }
            / mixed.suffix(from: half).reduce(0.0) { $0 + Double($1 * $1) }
        XCTAssertEqual(try share(mixed), expected, accuracy: 0.03)
    }
}
