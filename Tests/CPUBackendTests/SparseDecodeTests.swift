@testable import CPUBackend
@testable import CPUKernels
import LanternCore
import XCTest

/// `saeDecode` given W_dec's rows reads only the rows of the features that fire: the same sums as
/// the plain reference, and the dense product where the activations are too dense for that.
final class SparseDecodeTests: XCTestCase {
    /// acts [n, dSAE] with `active` features firing per row (the first and last feature among
    /// them in some rows), W_dec [dSAE, dIn], b_dec [dIn].
    func problem(n: Int, dSAE: Int, dIn: Int, active: Int, seed: UInt64) -> (acts: [Float], wDec: [Float], bDec: [Float]) {
        var rng = QuantTestRNG(seed: seed)
        func uniform() -> Float { Float(Int(rng.next() % 2001) - 1000) / 1000 }
        var acts = [Float](repeating: 0, count: n * dSAE)
        for r in 0..<n {
            for i in 0..<active {
                let j = i == 0 && r % 2 == 0 ? 0 : i == 1 && r % 3 == 0 ? dSAE - 1 : Int(rng.next() % UInt64(dSAE))
                acts[r * dSAE + j] = abs(uniform()) + 0.01
            }
        }
        return (acts, (0..<(dSAE * dIn)).map { _ in uniform() }, (0..<dIn).map { _ in uniform() })
    }

    func testSparseDecodeMatchesTheReference() throws {
        let b = CPUBackend()
        // d_in 40: a 16-lane body and a tail; 1 row and many.
        for (n, dSAE, dIn, active) in [(1, 320, 40, 5), (33, 640, 40, 12), (9, 256, 64, 1)] {
            let (acts, wDec, bDec) = problem(n: n, dSAE: dSAE, dIn: dIn, active: active, seed: UInt64(n))
            let want = Reference.saeDecode(acts, wDec: wDec, bDec: bDec, dIn: dIn, dSAE: dSAE)
            let a = try b.tensor(acts, shape: [n, dSAE]), bias = try b.tensor(bDec, shape: [dIn])
            let decoder = try b.weight(transposed(wDec, rows: dSAE, cols: dIn), shape: [dIn, dSAE], name: "W_dec")
            let rows = try b.weight(wDec, shape: [dSAE, dIn], name: "W_dec")
            XCTAssertNotNil(try b.sparseDecode(a, rows: rows, bias: bias), "\(n)×\(dSAE) with \(active) active takes the sparse path")
            let sparse = try b.read(try b.saeDecode(a, decoder: decoder, rows: rows, bias: bias))
            let dense = try b.read(try b.saeDecode(a, decoder: decoder, bias: bias))
            for (i, w) in want.enumerated() {
                XCTAssertEqual(sparse[i], w, accuracy: 1e-5 * max(1, abs(w)), "sparse [\(i / dIn), \(i % dIn)]")
                XCTAssertEqual(dense[i], w, accuracy: 1e-5 * max(1, abs(w)), "dense [\(i / dIn), \(i % dIn)]")
            }
        }
    }

    /// Activations with more than 1 in `sparseDecodeFraction` firing take the dense product.
    func testDenseActivationsTakeTheDenseProduct() throws {
        let b = CPUBackend()
        let (n, dSAE, dIn) = (4, 64, 16)
        let (acts, wDec, bDec) = problem(n: n, dSAE: dSAE, dIn: dIn, active: 64 / CPUBackend.sparseDecodeFraction + 1, seed: 7)
        let a = try b.tensor(acts, shape: [n, dSAE]), bias = try b.tensor(bDec, shape: [dIn])
        let rows = try b.weight(wDec, shape: [dSAE, dIn], name: "W_dec")
        XCTAssertNil(try b.sparseDecode(a, rows: rows, bias: bias))
        let decoder = try b.weight(transposed(wDec, rows: dSAE, cols: dIn), shape: [dIn, dSAE], name: "W_dec")
        let got = try b.read(try b.saeDecode(a, decoder: decoder, rows: rows, bias: bias))
        let want = Reference.saeDecode(acts, wDec: wDec, bDec: bDec, dIn: dIn, dSAE: dSAE)
        for (g, w) in zip(got, want) { XCTAssertEqual(g, w, accuracy: 1e-5 * max(1, abs(w))) }
    }

    func testRowsOfTheWrongShapeAreRefused() throws {
        let b = CPUBackend()
        let a = try b.zeros(shape: [2, 32]), decoder = try b.zeros(shape: [8, 32]), bias = try b.zeros(shape: [8])
        XCTAssertThrowsError(try b.saeDecode(a, decoder: decoder, rows: try b.zeros(shape: [8, 32]), bias: bias)) {
            XCTAssertTrue("\($0)".contains("[d_sae, d_in] = [32, 8]"), "\($0)")
        }
    }

    func transposed(_ x: [Float], rows: Int, cols: Int) -> [Float] {
        (0..<(rows * cols)).map { i in x[(i % rows) * cols + i / rows] }
    }
}
