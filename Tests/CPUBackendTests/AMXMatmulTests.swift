import CIntrinsics
@testable import CPUBackend
import LanternCore
import XCTest

/// The AMX products (`AMXMatmul`) against a double-precision sum of the dequantised weights'
/// products, and against the vector path. Skipped, with the reason, on CPUs without AMX-BF16.
final class AMXMatmulTests: XCTestCase {
    func requireAMX() throws {
        guard lantern_amx_available() != 0 else {
            throw XCTSkip("this CPU (or its kernel) offers no AMX-BF16 tiles: the AMX path is off and untested here")
        }
    }

    /// Σ w·x of activation row `row` and weight row `weightRow` in double precision, and Σ|w·x|.
    static func doubleDot(_ w: [Float], _ x: [Float], row: Int, weightRow: Int, k: Int) -> (sum: Double, magnitude: Double) {
        var sum = 0.0, magnitude = 0.0
        for i in 0..<k {
            let product = Double(w[weightRow * k + i]) * Double(x[row * k + i])
            sum += product
            magnitude += abs(product)
        }
        return (sum, magnitude)
    }

    /// The three bf16 pieces of every activation add up to it exactly, whatever its magnitude.
    func testActivationPiecesSumExactly() throws {
        try requireAMX()
        var rng = QuantTestRNG(seed: 5)
        let n = 19, k = 64
        let x: [Float] = (0..<(n * k)).map { i in
            if i % 17 == 0 { return 0 }
            let mantissa = Float(rng.next() % (1 << 24)) / Float(1 << 24) + 0.5
            let exponent = Int(rng.next() % 121) - 60
            return (i % 2 == 0 ? 1 : -1) * mantissa * Float(sign: .plus, exponent: exponent, significand: 1)
        }
        var packed = [UInt16](repeating: 0xFFFF, count: lantern_amx_packed_count(Int32(n), Int32(k)))
        var sums = [Float](repeating: .nan, count: (n + 15) / 16 * (k / 32) * 16)
        lantern_amx_pack_activations(x, Int32(n), Int32(k), &packed, &sums, 0, Int32((n + 15) / 16))
        let blocks = k / 32
        for row in 0..<n {
            for i in 0..<k {
                let (t, r, b, j) = (row / 16, row % 16, i / 32, i % 32)
                // B tile layout: pair j / 2 of activation row r at dword [j / 2][r].
                let pieces = (0..<3).map { p in
                    let base = ((t * blocks + b) * 3 + p) * 512
                    return Float(bitPattern: UInt32(packed[base + (j / 2) * 32 + r * 2 + j % 2]) << 16)
                }
                XCTAssertEqual(pieces.reduce(0.0) { $0 + Double($1) }, Double(x[row * k + i]), "row \(row), column \(i): \(pieces)")
            }
            for b in 0..<blocks {
                let want = x[(row * k + 32 * b)..<(row * k + 32 * b + 32)].reduce(0.0) { $0 + Double($1) }
                XCTAssertEqual(Double(sums[((row / 16) * blocks + b) * 16 + row % 16]), want, accuracy: 1e-6 * max(1, abs(want)), "row \(row) block \(b) sum")
            }
        }
        // The rows that pad the last tile are zero.
        let last = ((n - 1) / 16) * blocks * 3 * 512
        XCTAssertEqual(packed[last + 31], 0)
    }

    /// Every output within 1e-6 of Σ|w·x| of the double-precision sum, as the row dots are held,
    /// and as close to the vector path, for every type the kernel reads; partial tiles of rows and
    /// weight rows, several passes over the weights (more than 256 rows).
    func testProductsAgainstDoubleReference() throws {
        try requireAMX()
        for dtype in DType.allCases where dtype.blockSize > 1 {
            guard let type = AMXMatmul.kernelType(dtype) else { continue }
            let shapes = dtype.blockSize == 256 ? [(16, 256, 32), (37, 512, 47), (300, 256, 20)]
                                                : [(16, 32, 32), (17, 64, 47), (40, 640, 100), (128, 640, 70), (300, 96, 33)]
            for (n, k, m) in shapes {
                let bytes = QuantMatmulTests.randomBlocks(dtype, rows: m, k: k, seed: UInt64(n * 31 + m))
                var rng = QuantTestRNG(seed: UInt64(k))
                let x = (0..<(n * k)).map { _ in Float(Int(rng.next() % 20001) - 10000) / 1717 }
                try bytes.withUnsafeBytes { raw in
                    let host = HostTensor(name: "w", shape: [m, k], dtype: dtype, bytes: raw, owner: nil)
                    let wf = try host.floats()
                    var got = [Float](repeating: .nan, count: n * m)
                    x.withUnsafeBufferPointer { xp in
                        got.withUnsafeMutableBufferPointer { AMXMatmul.run(type, x: xp.baseAddress!, w: raw.baseAddress!, out: $0.baseAddress!, n: n, k: k, m: m) }
                    }
                    let backend = CPUBackend()
                    backend.usesAMX = false
                    let vector = try backend.read(try backend.matmul(try backend.tensor(x, shape: [n, k]), try backend.weight(host)))
                    for r in 0..<n {
                        for j in 0..<m {
                            let (sum, magnitude) = Self.doubleDot(wf, x, row: r, weightRow: j, k: k)
                            let bound = 1e-6 * max(magnitude, 1e-30)
                            XCTAssertLessThanOrEqual(abs(Double(got[r * m + j]) - sum), bound, "\(dtype) n \(n) k \(k) m \(m): [\(r), \(j)]")
                            XCTAssertLessThanOrEqual(abs(Double(got[r * m + j]) - Double(vector[r * m + j])), 2 * bound, "\(dtype) vs vector [\(r), \(j)]")
                        }
                    }
                }
            }
        }
        XCTAssertNil(AMXMatmul.kernelType(.q5_K))
    }

    /// bf16 weights of every magnitude: every output within 1e-6 of Σ|w·x| of the double-precision
    /// sum (measured: at most 3e-7), as the block types are held, and as close to the vector path;
    /// the same values widened to f32 (`F32_BF16_VALUES`) give the same bits.
    func testBF16WeightsAgainstDoubleReference() throws {
        try requireAMX()
        var rng = QuantTestRNG(seed: 21)
        func wide() -> Float {
            let mantissa = Float(rng.next() % (1 << 24)) / Float(1 << 24) + 0.5
            let exponent = Int(rng.next() % 25) - 12
            return (rng.next() % 2 == 0 ? 1 : -1) * mantissa * Float(sign: .plus, exponent: exponent, significand: 1)
        }
        for (n, k, m) in [(16, 32, 16), (37, 640, 47), (300, 96, 33)] {
            let x = (0..<(n * k)).map { _ in wide() }
            let bits = (0..<(m * k)).map { _ in UInt16(wide().bitPattern >> 16) }
            let wf = bits.map { Float(bitPattern: UInt32($0) << 16) }
            var got = [Float](repeating: .nan, count: n * m), widened = got
            try bits.withUnsafeBytes { raw in
                let host = HostTensor(name: "w", shape: [m, k], dtype: .bf16, bytes: raw, owner: nil)
                XCTAssertEqual(try host.floats(), wf)
                x.withUnsafeBufferPointer { xp in
                    got.withUnsafeMutableBufferPointer { AMXMatmul.run(Int32(LANTERN_AMX_BF16), x: xp.baseAddress!, w: raw.baseAddress!, out: $0.baseAddress!, n: n, k: k, m: m) }
                    wf.withUnsafeBufferPointer { wp in
                        widened.withUnsafeMutableBufferPointer { AMXMatmul.run(Int32(LANTERN_AMX_F32_BF16_VALUES), x: xp.baseAddress!, w: wp.baseAddress!, out: $0.baseAddress!, n: n, k: k, m: m) }
                    }
                }
                let backend = CPUBackend()
                backend.usesAMX = false
                let vector = try backend.read(try backend.matmul(try backend.tensor(x, shape: [n, k]), try backend.weight(host)))
                var worst = 0.0
                for r in 0..<n {
                    for j in 0..<m {
                        let (sum, magnitude) = Self.doubleDot(wf, x, row: r, weightRow: j, k: k)
                        worst = max(worst, abs(Double(got[r * m + j]) - sum) / magnitude)
                        XCTAssertLessThanOrEqual(abs(Double(got[r * m + j]) - Double(vector[r * m + j])), 2e-6 * magnitude, "vs vector [\(r), \(j)]")
                    }
                }
                XCTAssertLessThanOrEqual(worst, 1e-6, "n \(n) k \(k) m \(m): worst error over Σ|w·x|")
            }
            XCTAssertEqual(widened.map(\.bitPattern), got.map(\.bitPattern), "n \(n) k \(k) m \(m): bf16 values widened to f32")
        }
    }

    /// An f32 weight made from values that are all bf16 values goes to AMX as one piece (found by
    /// one pass when it is made); any other f32 weight, rows of k not a multiple of 32 and fewer
    /// than 16 rows stay on the vector path.
    func testComputedWeightsOfBF16ValuesTakeAMX() throws {
        try requireAMX()
        var rng = QuantTestRNG(seed: 8)
        let (n, k, m) = (20, 64, 24)
        let values = (0..<(m * k)).map { _ in Float(Int(rng.next() % 200_001) - 100_000) / 7919 }
        let bf16Values = values.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) }
        let x = (0..<(n * k)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 999 }
        let backend = CPUBackend()
        backend.usesAMX = true
        let w = try backend.weight(bf16Values, shape: [m, k], name: "W_enc")
        XCTAssertEqual(AMXMatmul.kernelType(w, rows: n, k: k), Int32(LANTERN_AMX_F32_BF16_VALUES))
        var direct = [Float](repeating: .nan, count: n * m)
        x.withUnsafeBufferPointer { xp in
            bf16Values.withUnsafeBufferPointer { wp in
                direct.withUnsafeMutableBufferPointer { AMXMatmul.run(Int32(LANTERN_AMX_F32_BF16_VALUES), x: xp.baseAddress!, w: wp.baseAddress!, out: $0.baseAddress!, n: n, k: k, m: m) }
            }
        }
        let got = try backend.read(try backend.matmul(try backend.tensor(x, shape: [n, k]), w))
        XCTAssertEqual(got.map(\.bitPattern), direct.map(\.bitPattern), "matmul took the AMX kernel")
        let want = Reference.matmul(x, bf16Values, n: n, k: k, m: m)
        for i in got.indices { XCTAssertEqual(got[i], want[i], accuracy: 1e-3, "[\(i)]") }

        XCTAssertNil(AMXMatmul.kernelType(try backend.weight(values, shape: [m, k], name: "W_enc"), rows: n, k: k), "f32 values: the vector path")
        XCTAssertNil(AMXMatmul.kernelType(try backend.weight(values.map { Float(Float16($0)) }, shape: [m, k], name: "W_enc"), rows: n, k: k),
                     "f16 values need two pieces: the vector path")
        let narrow = try backend.weight(Array(bf16Values[0..<(m * 48)]), shape: [m, 48], name: "W_enc")
        XCTAssertNil(AMXMatmul.kernelType(narrow, rows: n, k: 48), "rows of 48: not whole 32-weight blocks")
        XCTAssertNil(AMXMatmul.kernelType(w, rows: 15, k: k), "15 rows: the vector path")
        XCTAssertTrue([Float]().withUnsafeBufferPointer(AMXMatmul.areBF16Values))
        XCTAssertTrue([Float(1), -0.0, 3, 0.5, 1 + 1 / 128].withUnsafeBufferPointer(AMXMatmul.areBF16Values))
        XCTAssertFalse(([Float](repeating: 1, count: 37) + [1 + 1 / 256]).withUnsafeBufferPointer(AMXMatmul.areBF16Values))
    }

    /// `matmul` sends Q8_0 products of 16 rows or more to AMX (the same bits as calling it), fewer
    /// rows and other weight types to the vector kernels, and `usesAMX = false` turns it off.
    func testMatmulDispatch() throws {
        try requireAMX()
        let (k, m) = (64, 40)
        let bytes = QuantMatmulTests.randomBlocks(.q8_0, rows: m, k: k, seed: 3)
        var rng = QuantTestRNG(seed: 11)
        try bytes.withUnsafeBytes { raw in
            let backend = CPUBackend()
            XCTAssertTrue(backend.usesAMX || ProcessInfo.processInfo.environment["LANTERN_AMX"] == "0")
            backend.usesAMX = true
            let w = try backend.weight(HostTensor(name: "w", shape: [m, k], dtype: .q8_0, bytes: raw, owner: nil))
            for n in [8, 16, 33] {
                let x = (0..<(n * k)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 999 }
                var direct = [Float](repeating: .nan, count: n * m)
                x.withUnsafeBufferPointer { xp in
                    direct.withUnsafeMutableBufferPointer { AMXMatmul.run(Int32(LANTERN_AMX_Q8_0), x: xp.baseAddress!, w: raw.baseAddress!, out: $0.baseAddress!, n: n, k: k, m: m) }
                }
                let viaAMX = try backend.read(try backend.matmul(try backend.tensor(x, shape: [n, k]), w))
                backend.usesAMX = false
                let viaVector = try backend.read(try backend.matmul(try backend.tensor(x, shape: [n, k]), w))
                backend.usesAMX = true
                if n >= AMXMatmul.minRows {
                    XCTAssertEqual(viaAMX.map(\.bitPattern), direct.map(\.bitPattern), "n \(n): matmul took the AMX kernel")
                    XCTAssertNotEqual(viaAMX.map(\.bitPattern), viaVector.map(\.bitPattern), "n \(n): another order of additions")
                } else {
                    XCTAssertEqual(viaAMX.map(\.bitPattern), viaVector.map(\.bitPattern), "n \(n): below \(AMXMatmul.minRows) rows, the vector path")
                }
            }
        }
    }

    /// With AMX, many-row products read the stored blocks: a widening backend keeps no f32 copy of
    /// them (the default model's unembedding alone was 671 MB of its 1,072).
    func testQ8_0IsNotWidened() throws {
        try requireAMX()
        let (n, k, m) = (32, 64, 48)
        let bytes = QuantMatmulTests.randomBlocks(.q8_0, rows: m, k: k, seed: 4)
        try bytes.withUnsafeBytes { raw in
            let backend = CPUBackend()
            backend.usesAMX = true
            backend.widenWeights()
            let w = try backend.weight(HostTensor(name: "w", shape: [m, k], dtype: .q8_0, bytes: raw, owner: nil))
            _ = try backend.matmul(try backend.tensor([Float](repeating: 0.5, count: n * k), shape: [n, k]), w)
            XCTAssertEqual(backend.widening?.bytesUsed, 0)
        }
    }
}
