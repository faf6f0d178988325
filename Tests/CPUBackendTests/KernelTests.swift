import XCTest
@testable import CPUBackend
@testable import CPUKernels
import LanternCore

/// Every CPU kernel against its plain reference, on random inputs whose sizes are not multiples
/// of any tile (the ragged edges are where blocked kernels go wrong).
final class KernelTests: XCTestCase {
    let backend = CPUBackend()
    /// Every test draws its inputs from this seed (a fresh generator per test): failure messages
    /// name it, and a test run again gets the same inputs.
    static let seed: UInt64 = 0x4B45_524E_454C
    var rng = SplitMix64(seed: KernelTests.seed)

    func random(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) } }

    func assertClose(_ a: [Float], _ b: [Float], tol: Float = 1e-5, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        let scale = b.map(abs).max() ?? 0
        XCTAssertLessThanOrEqual(diff, tol * max(scale, 1e-30), "\(what) (seed \(Self.seed)): max |a-b| = \(diff), max |b| = \(scale)",
                                 file: file, line: line)
    }

    func host(_ values: [Float], shape: [Int], dtype: DType) -> (HostTensor, [Float]) {
        // Stores `values` in `dtype` and returns the widened values the kernel should see.
        let count = values.count
        switch dtype {
        case .bf16:
            let bits = values.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count * 2, alignment: 64)
            bits.withUnsafeBytes { buffer.copyMemory(from: $0) }
            return (HostTensor(name: "w", shape: shape, dtype: .bf16, bytes: UnsafeRawBufferPointer(buffer), owner: Leak(buffer)),
                    bits.map { Float(bitPattern: UInt32($0) << 16) })
        case .f16:
            let halves = values.map { Float16($0) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count * 2, alignment: 64)
            halves.withUnsafeBytes { buffer.copyMemory(from: $0) }
            return (HostTensor(name: "w", shape: shape, dtype: .f16, bytes: UnsafeRawBufferPointer(buffer), owner: Leak(buffer)),
                    halves.map { Float($0) })
        default:
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count * 4, alignment: 64)
            values.withUnsafeBytes { buffer.copyMemory(from: $0) }
            return (HostTensor(name: "w", shape: shape, dtype: .f32, bytes: UnsafeRawBufferPointer(buffer), owner: Leak(buffer)), values)
        }
    }

    func testMatmulAllDtypesRaggedShapes() throws {
        for dtype in [DType.f32, .bf16, .f16] {
            for (n, k, m) in [(1, 37, 5), (3, 100, 67), (4, 8, 3), (17, 1030, 50), (9, 2053, 97), (128, 64, 49), (13, 300, 40), (16, 257, 33)] {
                let x = random(n * k), (w, widened) = host(random(m * k), shape: [m, k], dtype: dtype)
                let out = try backend.read(backend.matmul(try backend.matrix(x, rows: n, cols: k), try backend.weight(w)))
                assertClose(out, Reference.matmul(x, widened, n: n, k: k, m: m), tol: 2e-6 * Float(k).squareRoot() + 1e-6,
                            "matmul \(dtype) n=\(n) k=\(k) m=\(m)")
            }
        }
    }

    func testRMSNormBothForms() throws {
        for (rows, d) in [(1, 7), (5, 64), (3, 2304)] {
            let x = random(rows * d, scale: 3), w = random(d)
            for form in [RMSNormForm.gemma, .llama] {
                let out = try backend.read(backend.rmsNorm(try backend.matrix(x, rows: rows, cols: d), weight: try backend.tensor(w, shape: [d]), eps: 1e-6, form: form))
                assertClose(out, Reference.rmsNorm(x, weight: w, eps: 1e-6, form: form), "rmsNorm \(form) \(rows)×\(d)")
            }
        }
    }

    /// LayerNorm, including rows far from zero (the two-pass variance must not cancel) and a
    /// width below one SIMD vector.
    func testLayerNorm() throws {
        for (rows, d, offset) in [(1, 7, Float(0)), (5, 64, 0), (3, 768, 0), (4, 129, 50)] {
            let x = random(rows * d, scale: 3).map { $0 + offset }, w = random(d), b = random(d)
            let out = try backend.read(backend.layerNorm(try backend.matrix(x, rows: rows, cols: d), weight: try backend.tensor(w, shape: [d]),
                                                         bias: try backend.tensor(b, shape: [d]), eps: 1e-5))
            assertClose(out, Reference.layerNorm(x, weight: w, bias: b, eps: 1e-5), tol: offset == 0 ? 1e-5 : 1e-4,
                        "layerNorm \(rows)×\(d) offset \(offset)")
        }
        XCTAssertThrowsError(try backend.layerNorm(try backend.matrix([1, 2, 3], rows: 1, cols: 3), weight: try backend.tensor([1, 2, 3], shape: [3]),
                                                   bias: try backend.tensor([1, 2], shape: [2]), eps: 1e-5))
    }

    func testGELUBothForms() throws {
        for count in [1, 7, 8, 9, 1000] {
            let x = random(count, scale: 6)
            for form in [GELUApproximation.tanh, .erf] {
                let out = try backend.read(backend.gelu(try backend.tensor(x, shape: [count]), approximation: form))
                assertClose(out, Reference.gelu(x, approximation: form), "gelu \(form) count \(count)")
            }
        }
    }

    func testRopeBothPairings() throws {
        for pairing in [RopePairing.half, .interleaved] {
            for (rotary, scale) in [(16, Float(1)), (8, 4)] {
                let params = RopeParams(theta: 10_000, pairing: pairing, positionScale: scale, rotaryDim: rotary)
                let x = random(5 * 3 * 16)
                let out = try backend.read(backend.rope(try backend.matrix(x, rows: 5, cols: 48), heads: 3, headDim: 16, start: 7, params: params))
                assertClose(out, Reference.rope(x, heads: 3, headDim: 16, start: 7, params: params), "rope \(pairing) rotary \(rotary)")
            }
        }
    }

    /// RoPE's kept angle tables give the bits of working each angle out per call, as it did before
    /// them: positions inside the tables, and a run past their end (worked out per call).
    func testRopeAngleTablesChangeNoBits() throws {
        let params = RopeParams(theta: 10_000, pairing: .half, positionScale: 1, rotaryDim: 32)
        let (rows, heads, d, half) = (4, 2, 32, 16)
        for start in [0, 1_000, RopeAngles.maxPositions - 2] {
            let x = random(rows * heads * d)
            let got = try backend.read(backend.rope(try backend.matrix(x, rows: rows, cols: heads * d), heads: heads, headDim: d, start: start, params: params))
            var want = x
            for r in 0..<rows {
                for i in 0..<half {
                    let freq = RopeParams.inverseFrequency(i, rotaryDim: 32, theta: 10_000) / 1
                    let angle = Double(Float(start + r) * freq)
                    let (c, s) = (Float(cos(angle)), Float(sin(angle)))
                    for h in 0..<heads {
                        let a = r * heads * d + h * d + i, b = a + half
                        want[a] = x[a] * c - x[b] * s
                        want[b] = x[b] * c + x[a] * s
                    }
                }
            }
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "start \(start) (seed \(Self.seed))")
        }
    }

    func testAttentionMasksAndCache() throws {
        // n ≥ 16 takes BlockedAttention (GEMMs per kv head, its query heads stacked, and block of 128
        // queries; 300 queries are three blocks), fewer the per-query kernel.
        let cases: [(n: Int, start: Int, window: Int?, cap: Float?)] = [(6, 0, nil, nil), (13, 0, 4, 2), (3, 5, 3, nil), (1, 9, nil, 50),
                                                                        (40, 0, nil, nil), (37, 5, 7, 3), (300, 2, nil, nil), (263, 0, 100, nil)]
        for c in cases {
            let p = AttentionParams(heads: 4, kvHeads: 2, headDim: 12, scale: 0.3, softcap: c.cap, window: c.window)
            let keys = c.start + c.n, capacity = keys + 2
            let q = random(c.n * 48, scale: 2), k = random(capacity * 24, scale: 2), v = random(capacity * 24)
            let (out, pattern) = try backend.attention(q: try backend.matrix(q, rows: c.n, cols: 48), k: try backend.matrix(k, rows: capacity, cols: 24),
                                                       v: try backend.matrix(v, rows: capacity, cols: 24), queryStart: c.start, keyCount: keys,
                                                       params: p, wantPattern: true)
            let ref = Reference.attention(q: q, k: k, v: v, n: c.n, queryStart: c.start, keyCount: keys, params: p)
            assertClose(try backend.read(out), ref.out, "attention out \(c)")
            assertClose(try backend.read(pattern!), ref.pattern, "attention pattern \(c)")
        }
    }

    func testElementwise() throws {
        let a = random(1000, scale: 4), b = random(1000, scale: 4)
        let ta = try backend.matrix(a, rows: 10, cols: 100), tb = try backend.matrix(b, rows: 10, cols: 100)
        assertClose(try backend.read(backend.gegluTanh(gate: ta, up: tb)), Reference.gegluTanh(gate: a, up: b), "geglu")
        assertClose(try backend.read(backend.swiglu(gate: ta, up: tb)), Reference.swiglu(gate: a, up: b), "swiglu")
        assertClose(try backend.read(backend.softcap(ta, cap: 3)), Reference.softcap(a, cap: 3), "softcap")
        assertClose(try backend.read(backend.add(ta, tb)), zip(a, b).map(+), "add")
        assertClose(try backend.read(backend.scale(ta, by: 0.5)), a.map { $0 * 0.5 }, "scale")
        let row = random(100)
        let broadcast = try backend.read(backend.add(ta, try backend.tensor(row, shape: [100])))
        assertClose(broadcast, a.enumerated().map { $1 + row[$0 % 100] }, "add row")
    }

    func testTransposeRaggedShapes() throws {
        for (n, m) in [(1, 1), (3, 70), (65, 33), (100, 7)] {
            let x = random(n * m)
            let t = try backend.matrix(x, rows: n, cols: m)
            XCTAssertEqual(try backend.read(backend.transpose(t)), Reference.transpose(x, n: n, m: m), "transpose \(n)×\(m) (seed \(Self.seed))")
        }
    }

    func testEmbedChecksTokenRange() throws {
        let table = random(10 * 4)
        let t = try backend.matrix(table, rows: 10, cols: 4)
        assertClose(try backend.read(backend.embed([3, 0, 9], table: t, scale: 2)),
                    Reference.embed([3, 0, 9], table: table, width: 4, scale: 2), "embed")
        XCTAssertThrowsError(try backend.embed([10], table: t, scale: 1)) { error in
            XCTAssertTrue("\(error)".contains("token id 10 is out of range"), "\(error)")
        }
    }

    func testMismatchedShapesThrow() throws {
        let x = try backend.matrix(random(6), rows: 2, cols: 3)
        XCTAssertThrowsError(try backend.matmul(x, try backend.matrix(random(8), rows: 2, cols: 4)))
        XCTAssertThrowsError(try backend.rmsNorm(x, weight: try backend.tensor(random(4), shape: [4]), eps: 1e-6, form: .gemma))
    }
}

/// Keeps a test buffer alive as long as the tensor that aliases it.
final class Leak {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }
    deinit { buffer.deallocate() }
}
