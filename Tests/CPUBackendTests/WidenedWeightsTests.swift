@testable import CPUBackend
import LanternCore
import XCTest

/// Weights kept widened to f32 (`CPUBackend.widenWeights`) give exactly the products of the
/// per-call widening, stay within their budget, and are made only for file-backed weights.
final class WidenedWeightsTests: XCTestCase {
    /// [m, k] weights of `dtype` as stored bytes: random blocks for the quantised types (through
    /// QuantMatmulTests' generator), random floats for the others.
    func weightBytes(_ dtype: DType, m: Int, k: Int) -> [UInt8] {
        if dtype.isQuantised { return QuantMatmulTests.randomBlocks(dtype, rows: m, k: k, seed: 11) }
        var rng = QuantTestRNG(seed: 5)
        let values = (0..<(m * k)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 997 }
        switch dtype {
        case .f32: return values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        case .f16: return values.flatMap { withUnsafeBytes(of: Float16($0).bitPattern.littleEndian, Array.init) }
        default: return values.flatMap { withUnsafeBytes(of: UInt16($0.bitPattern >> 16).littleEndian, Array.init) }
        }
    }

    func activations(n: Int, k: Int) -> [Float] {
        var rng = QuantTestRNG(seed: 9)
        return (0..<(n * k)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
    }

    func testWidenedProductsAreBitIdentical() throws {
        let (k, m) = (768, 150)
        for dtype in DType.allCases {
            let bytes = weightBytes(dtype, m: m, k: k)
            try bytes.withUnsafeBytes { raw in
                let host = HostTensor(name: "w", shape: [m, k], dtype: dtype, bytes: raw, owner: nil)
                let plain = CPUBackend(), widening = CPUBackend()
                widening.widenWeights()
                let wPlain = try plain.weight(host), wWide = try widening.weight(host)
                // 8 rows is the first packed product of 16- and 32-bit weights, 64 of quantised ones;
                // 13 and 70 leave a partial row tile.
                for n in [8, 13, 40, 64, 70] {
                    let x = activations(n: n, k: k)
                    let want = try plain.read(try plain.matmul(try plain.tensor(x, shape: [n, k]), wPlain))
                    for pass in 0..<2 {
                        let got = try widening.read(try widening.matmul(try widening.tensor(x, shape: [n, k]), wWide))
                        XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(dtype) n=\(n) pass \(pass)")
                    }
                }
                let nr = widening.kernels.panelWidth
                let panelBytes = (m + nr - 1) / nr * nr * k * 4
                XCTAssertEqual(widening.widening?.bytesUsed, panelBytes, "\(dtype): one widened copy, kept")
                // Few rows read the stored bytes: nothing more is widened, the answer is the same.
                let x = activations(n: 3, k: k)
                XCTAssertEqual(try widening.read(try widening.matmul(try widening.tensor(x, shape: [3, k]), wWide)),
                               try plain.read(try plain.matmul(try plain.tensor(x, shape: [3, k]), wPlain)), "\(dtype) n=3")
            }
        }
    }

    func testBudgetAndLifetime() throws {
        // Q5_K, a type AMX does not read: where AMX is used, the other block types' products
        // read the stored bytes and widen nothing (AMXMatmulTests). 64 rows: quantised weights
        // widen from `CPUKernelPlan.quantisedPackedFromRows`.
        let (n, k, m) = (CPUKernelPlan.quantisedPackedFromRows, 256, 64)
        let bytes = weightBytes(.q5_K, m: m, k: k)
        let x = activations(n: n, k: k)
        try bytes.withUnsafeBytes { raw in
            let host = HostTensor(name: "w", shape: [m, k], dtype: .q5_K, bytes: raw, owner: nil)
            let plain = CPUBackend()
            let want = try plain.read(try plain.matmul(try plain.tensor(x, shape: [n, k]), try plain.weight(host)))

            // A budget too small for the matrix: the product runs as before, nothing is kept.
            let small = CPUBackend()
            small.widenWeights(upTo: m * k * 4 - 1)
            XCTAssertEqual(try small.read(try small.matmul(try small.tensor(x, shape: [n, k]), try small.weight(host))), want)
            XCTAssertEqual(small.widening?.bytesUsed, 0)

            // The panels live as long as the weight: dropping it gives the bytes back.
            let b = CPUBackend()
            b.widenWeights(upTo: m * k * 4)
            var w: Tensor? = try b.weight(host)
            XCTAssertEqual(try b.read(try b.matmul(try b.tensor(x, shape: [n, k]), w!)), want)
            XCTAssertEqual(b.widening?.bytesUsed, m * k * 4)
            w = nil
            XCTAssertEqual(b.widening?.bytesUsed, 0)

            // Weights the backend allocated (trained, written to) are never widened: they change.
            let wf = try host.floats()
            let owned = try b.tensor(wf, shape: [m, k])
            XCTAssertEqual(try b.read(try b.matmul(try b.tensor(x, shape: [n, k]), owned)),
                           try plain.read(try plain.matmul(try plain.tensor(x, shape: [n, k]), try plain.tensor(wf, shape: [m, k]))))
            XCTAssertEqual(b.widening?.bytesUsed, 0)

            // Off by default.
            XCTAssertNil(CPUBackend().widening)
        }
    }

    /// Weights made from computed floats (`weight(_:shape:name:)`: SAE and transcoder matrices)
    /// widen like a file's, give the same bits as an activation-made matrix, and refuse writes.
    func testComputedWeightsWidenAndAreReadOnly() throws {
        let (n, k, m) = (16, 96, 48)
        var rng = QuantTestRNG(seed: 3)
        let wf = (0..<(m * k)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 997 }
        let x = activations(n: n, k: k)
        let plain = CPUBackend()
        let want = try plain.read(try plain.matmul(try plain.tensor(x, shape: [n, k]), try plain.tensor(wf, shape: [m, k])))
        let b = CPUBackend()
        b.widenWeights()
        let w = try b.weight(wf, shape: [m, k], name: "W_enc")
        for pass in 0..<2 {
            XCTAssertEqual(try b.read(try b.matmul(try b.tensor(x, shape: [n, k]), w)).map(\.bitPattern), want.map(\.bitPattern), "pass \(pass)")
        }
        let nr = b.kernels.panelWidth
        XCTAssertEqual(b.widening?.bytesUsed, (m + nr - 1) / nr * nr * k * 4)
        XCTAssertEqual(try b.read(w), wf)
        XCTAssertThrowsError(try b.copyRows(try b.tensor(Array(wf[0..<k]), shape: [1, k]), into: w, at: 0)) {
            XCTAssertTrue("\($0)".contains("is a weight"), "\($0)")
        }
        XCTAssertThrowsError(try b.weight(wf, shape: [m, k + 1], name: "W_enc")) {
            XCTAssertTrue("\($0)".contains("W_enc"), "\($0)")
        }
    }
}
