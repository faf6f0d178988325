import CPUBackend
import Foundation
import LanternCore
import VulkanBackend
import XCTest

/// Every shader against `Reference` on random inputs, with sizes that are not multiples of any
/// tile or workgroup. f32 tolerance: 1e-5 relative (max |a−b| / max |b|). 16-bit weights are
/// compared with the reference fed the same weights widened to f32: widening is exact, so only
/// the f32 summation order differs and the same 1e-5 applies.
final class OpTests: VulkanTestCase {
    func testMatmulF32() throws {
        let shapes = [(1, 37, 5), (3, 100, 67), (8, 37, 5), (9, 100, 67), (17, 37, 67), (65, 100, 5), (70, 33, 130), (1, 300, 1)]
        for (i, (n, k, m)) in shapes.enumerated() {
            let x = Self.random(n * k, seed: UInt64(i)), w = Self.random(m * k, seed: UInt64(100 + i))
            let expected = Reference.matmul(x, w, n: n, k: k, m: m)
            for backend in [gpu!, staging!] {
                let out = try backend.matmul(try backend.tensor(x, shape: [n, k]), try backend.tensor(w, shape: [m, k]))
                XCTAssertEqual(out.shape, [n, m])
                assertClose(try backend.read(out), expected, 1e-5, "matmul f32 n=\(n) k=\(k) m=\(m) \(backend === staging ? "staged" : "direct")")
            }
        }
    }

    func testMatmul16BitWeights() throws {
        for dtype in [DType.f16, .bf16] {
            for (i, (n, k, m)) in [(1, 37, 5), (3, 100, 67), (17, 37, 67), (70, 33, 130)].enumerated() {
                let x = Self.random(n * k, seed: UInt64(i)), bytes = HostBytes(Self.random(m * k, seed: UInt64(200 + i)), dtype: dtype)
                let host = bytes.host("w", shape: [m, k], dtype: dtype)
                let expected = Reference.matmul(x, try host.floats(), n: n, k: k, m: m)
                let out = try gpu.matmul(try gpu.tensor(x, shape: [n, k]), try gpu.weight(host))
                assertClose(try gpu.read(out), expected, 1e-5, "matmul \(dtype) n=\(n) k=\(k) m=\(m)")
                XCTAssertEqual(try gpu.read(try gpu.weight(host)), try host.floats(), "\(dtype) weights read back")
            }
        }
    }

    func testEmbed() throws {
        let vocab = 11, width = 37
        let table = Self.random(vocab * width, seed: 3)
        let tokens: [Int32] = [0, 10, 3, 3, 7]
        for dtype in [DType.f32, .f16, .bf16] {
            let bytes = HostBytes(table, dtype: dtype)
            let host = bytes.host("embed", shape: [vocab, width], dtype: dtype)
            let out = try gpu.embed(tokens, table: try gpu.weight(host), scale: 2.5)
            assertClose(try gpu.read(out), Reference.embed(tokens, table: try host.floats(), width: width, scale: 2.5), 1e-6, "embed \(dtype)")
        }
        let t = try gpu.tensor(table, shape: [vocab, width])
        XCTAssertThrowsError(try gpu.embed([1, 11], table: t, scale: 1)) {
            XCTAssertTrue("\($0)".contains("token id 11 is out of range"), "\($0)")
        }
    }

    func testRMSNorm() throws {
        for (rows, d) in [(1, 37), (3, 100), (17, 1000)] {
            let x = Self.random(rows * d, seed: UInt64(d), scale: 3), w = Self.random(d, seed: UInt64(d + 1))
            for form in [RMSNormForm.gemma, .llama] {
                for backend in [gpu!, staging!] {
                    let out = try backend.rmsNorm(try backend.tensor(x, shape: [rows, d]), weight: try backend.tensor(w, shape: [d]), eps: 1e-6, form: form)
                    assertClose(try backend.read(out), Reference.rmsNorm(x, weight: w, eps: 1e-6, form: form), 1e-5,
                                "rmsNorm \(form) \(rows)×\(d) subgroups \(backend.useSubgroups)")
                }
            }
            let bytes = HostBytes(w, dtype: .bf16)
            let host = bytes.host("norm", shape: [d], dtype: .bf16)
            let out = try gpu.rmsNorm(try gpu.tensor(x, shape: [rows, d]), weight: try gpu.weight(host), eps: 1e-5, form: .gemma)
            assertClose(try gpu.read(out), Reference.rmsNorm(x, weight: try host.floats(), eps: 1e-5, form: .gemma), 1e-5, "rmsNorm bf16 weight")
        }
        XCTAssertThrowsError(try gpu.rmsNorm(try gpu.tensor([1, 2, 3], shape: [1, 3]), weight: try gpu.tensor([1, 2], shape: [2]), eps: 1e-6, form: .gemma))
    }

    func testLayerNorm() throws {
        for (rows, d, offset) in [(1, 37, Float(0)), (3, 100, 0), (17, 1000, 0), (2, 130, 40)] {
            let x = Self.random(rows * d, seed: UInt64(d), scale: 3).map { $0 + offset }
            let w = Self.random(d, seed: UInt64(d + 1)), b = Self.random(d, seed: UInt64(d + 2))
            for backend in [gpu!, staging!] {
                let out = try backend.layerNorm(try backend.tensor(x, shape: [rows, d]), weight: try backend.tensor(w, shape: [d]),
                                                bias: try backend.tensor(b, shape: [d]), eps: 1e-5)
                assertClose(try backend.read(out), Reference.layerNorm(x, weight: w, bias: b, eps: 1e-5), offset == 0 ? 1e-5 : 1e-4,
                            "layerNorm \(rows)×\(d) offset \(offset) subgroups \(backend.useSubgroups)")
            }
        }
        let x = try gpu.tensor([1, 2, 3], shape: [1, 3])
        XCTAssertThrowsError(try gpu.layerNorm(x, weight: try gpu.tensor([1, 2], shape: [2]), bias: try gpu.tensor([1, 2], shape: [2]), eps: 1e-5))
    }

    func testRope() throws {
        let cases: [(rows: Int, heads: Int, headDim: Int, start: Int, params: RopeParams)] = [
            (1, 3, 16, 0, RopeParams(theta: 10_000, rotaryDim: 16)),
            (3, 2, 34, 5, RopeParams(theta: 10_000, pairing: .interleaved, rotaryDim: 34)),
            (17, 3, 20, 0, RopeParams(theta: 1_000_000, rotaryDim: 12)),
            (5, 2, 16, 2, RopeParams(theta: 10_000, pairing: .interleaved, positionScale: 2, rotaryDim: 8)),
            (2, 1, 64, 3000, RopeParams(theta: 10_000, rotaryDim: 64)),
        ]
        for (i, c) in cases.enumerated() {
            let x = Self.random(c.rows * c.heads * c.headDim, seed: UInt64(40 + i))
            let out = try gpu.rope(try gpu.tensor(x, shape: [c.rows, c.heads * c.headDim]), heads: c.heads, headDim: c.headDim,
                                   start: c.start, params: c.params)
            let expected = Reference.rope(x, heads: c.heads, headDim: c.headDim, start: c.start, params: c.params)
            assertClose(try gpu.read(out), expected, 1e-5, "rope case \(i)")
        }
    }

    func testAttention() throws {
        struct Case { var n, start, keyRows, heads, kv, dim: Int; var window: Int?; var softcap: Float? }
        let cases = [
            Case(n: 7, start: 0, keyRows: 7, heads: 4, kv: 2, dim: 16, window: nil, softcap: nil),
            Case(n: 7, start: 0, keyRows: 7, heads: 4, kv: 1, dim: 16, window: 3, softcap: 5),
            Case(n: 3, start: 7, keyRows: 12, heads: 2, kv: 2, dim: 37, window: nil, softcap: 2),
            Case(n: 1, start: 9, keyRows: 12, heads: 6, kv: 3, dim: 100, window: 4, softcap: nil),
            Case(n: 2, start: 148, keyRows: 160, heads: 2, kv: 1, dim: 24, window: nil, softcap: 50),
            Case(n: 70, start: 0, keyRows: 70, heads: 2, kv: 2, dim: 8, window: 65, softcap: nil),
        ]
        for (i, c) in cases.enumerated() {
            let keyCount = c.start + c.n
            let q = Self.random(c.n * c.heads * c.dim, seed: UInt64(60 + i), scale: 2)
            let k = Self.random(c.keyRows * c.kv * c.dim, seed: UInt64(70 + i), scale: 2)
            let v = Self.random(c.keyRows * c.kv * c.dim, seed: UInt64(80 + i))
            let p = AttentionParams(heads: c.heads, kvHeads: c.kv, headDim: c.dim, scale: 1 / Float(c.dim).squareRoot(),
                                    softcap: c.softcap, window: c.window)
            let expected = Reference.attention(q: q, k: k, v: v, n: c.n, queryStart: c.start, keyCount: keyCount, params: p)
            for wantPattern in [false, true] {
                let (out, pattern) = try gpu.attention(
                    q: try gpu.tensor(q, shape: [c.n, c.heads * c.dim]), k: try gpu.tensor(k, shape: [c.keyRows, c.kv * c.dim]),
                    v: try gpu.tensor(v, shape: [c.keyRows, c.kv * c.dim]), queryStart: c.start, keyCount: keyCount,
                    params: p, wantPattern: wantPattern)
                assertClose(try gpu.read(out), expected.out, 1e-5, "attention case \(i)")
                XCTAssertEqual(pattern == nil, !wantPattern)
                if let pattern {
                    XCTAssertEqual(pattern.shape, [c.heads, c.n, keyCount])
                    assertClose(try gpu.read(pattern), expected.pattern, 1e-5, "attention pattern case \(i)")
                }
            }
        }
    }

    /// The packed-sequence forms are one dispatch each and give every segment the bits of its own
    /// op on its rows (the same shader code over the same rows), on both Vulkan setups and the CPU;
    /// segments that do not tile the rows are refused.
    func testPackedSequencesAreOneDispatchAndEachSegmentsOwnRun() throws {
        let segments = [0..<5, 5..<6, 6..<19]
        let (rows, heads, kv, dim) = (19, 4, 2, 16)
        let q = Self.random(rows * heads * dim, seed: 5, scale: 2), k = Self.random(rows * kv * dim, seed: 6, scale: 2)
        let v = Self.random(rows * kv * dim, seed: 7)
        let p = AttentionParams(heads: heads, kvHeads: kv, headDim: dim, scale: 0.25, softcap: 3, window: 4)
        let rope = RopeParams(theta: 10_000, rotaryDim: 16)
        for backend in [gpu!, staging!, cpu] as [any Backend] {
            let (tq, tk, tv) = (try backend.tensor(q, shape: [rows, heads * dim]), try backend.tensor(k, shape: [rows, kv * dim]),
                                try backend.tensor(v, shape: [rows, kv * dim]))
            let before = (backend as? VulkanBackend)?.traffic
            let z = try backend.attention(q: tq, k: tk, v: tv, segments: segments, params: p)
            let r = try backend.rope(tq, heads: heads, headDim: dim, segments: segments, params: rope)
            if let vulkan = backend as? VulkanBackend, let before {
                XCTAssertEqual((vulkan.traffic - before).dispatches, 2, "one dispatch for each packed op")
            }
            let each = try segments.flatMap { s in
                try backend.read(try backend.attention(q: try tq.rows(s), k: try tk.rows(s), v: try tv.rows(s), queryStart: 0,
                                                       keyCount: s.count, params: p, wantPattern: false).out)
            }
            XCTAssertEqual(try backend.read(z), each, "\(backend.name): attention")
            let rotated = try segments.flatMap { try backend.read(try backend.rope(try tq.rows($0), heads: heads, headDim: dim, start: 0, params: rope)) }
            XCTAssertEqual(try backend.read(r), rotated, "\(backend.name): rope")
            XCTAssertThrowsError(try backend.attention(q: tq, k: tk, v: tv, segments: [0..<5, 6..<19], params: p))
            XCTAssertThrowsError(try backend.rope(tq, heads: heads, headDim: dim, segments: [0..<18], params: rope))
        }
    }

    /// Every RoPE (forward, packed, backward) on both Vulkan setups and the CPU refuses the same
    /// inputs through one check: a width that is not heads × headDim, an odd or too wide rotary
    /// part, a negative first position; the error names the op.
    func testRopeRefusesBadShapesOnEveryBackend() throws {
        let (rows, heads, dim) = (3, 2, 8)
        let x = Self.random(rows * heads * dim, seed: 12)
        for backend in [gpu!, staging!, cpu] as [any Backend & DifferentiableBackend] {
            let t = try backend.tensor(x, shape: [rows, heads * dim])
            let good = RopeParams(theta: 10_000, rotaryDim: dim)
            let cases: [(String, () throws -> Tensor)] = [
                ("width", { try backend.rope(t, heads: 3, headDim: dim, start: 0, params: good) }),
                ("odd rotary", { try backend.rope(t, heads: heads, headDim: dim, start: 0, params: RopeParams(theta: 10_000, rotaryDim: 7)) }),
                ("wide rotary", { try backend.rope(t, heads: heads, headDim: dim, segments: [0..<rows], params: RopeParams(theta: 10_000, rotaryDim: 10)) }),
                ("negative start", { try backend.rope(t, heads: heads, headDim: dim, start: -1, params: good) }),
                ("backward width", { try backend.ropeBackward(t, heads: heads, headDim: dim + 1, start: 0, params: good) }),
            ]
            for (what, call) in cases {
                XCTAssertThrowsError(try call(), "\(backend.name): \(what)") { error in
                    guard case LanternError.shapeMismatch(let op, _) = error else { return XCTFail("\(backend.name): \(what): \(error)") }
                    XCTAssertTrue(op.hasPrefix("rope"), "\(backend.name): \(what): \(op)")
                }
            }
            XCTAssertNoThrow(try backend.rope(t, heads: heads, headDim: dim, start: 2, params: good))
        }
    }

    func testElementwise() throws {
        let count = 1000 + 37
        let a = Self.random(count, seed: 90, scale: 30), b = Self.random(count, seed: 91, scale: 3)
        let (ta, tb) = (try gpu.tensor(a, shape: [17, 61]), try gpu.tensor(b, shape: [17, 61]))
        assertClose(try gpu.read(try gpu.gegluTanh(gate: ta, up: tb)), Reference.gegluTanh(gate: a, up: b), 1e-5, "gegluTanh")
        assertClose(try gpu.read(try gpu.swiglu(gate: ta, up: tb)), Reference.swiglu(gate: a, up: b), 1e-5, "swiglu")
        let moderate = a.map { $0 / 4 }
        for form in [GELUApproximation.tanh, .erf] {
            assertClose(try gpu.read(try gpu.gelu(try gpu.tensor(moderate, shape: [17, 61]), approximation: form)),
                        Reference.gelu(moderate, approximation: form), 1e-5, "gelu \(form)")
        }
        assertClose(try gpu.read(try gpu.add(ta, tb)), zip(a, b).map(+), 1e-6, "add")
        let row = Array(b.prefix(61))
        assertClose(try gpu.read(try gpu.add(ta, try gpu.tensor(row, shape: [61]))), a.enumerated().map { $1 + row[$0 % 61] }, 1e-6, "add row")
        assertClose(try gpu.read(try gpu.scale(ta, by: -0.75)), a.map { $0 * -0.75 }, 1e-6, "scale")
        for cap: Float in [50, 5, 30] {
            assertClose(try gpu.read(try gpu.softcap(ta, cap: cap)), Reference.softcap(a, cap: cap), 1e-5, "softcap \(cap)")
        }
        let small = a.map { $0 * 1e-4 }
        assertClose(try gpu.read(try gpu.softcap(try gpu.tensor(small, shape: [count]), cap: 30)), Reference.softcap(small, cap: 30), 1e-5, "softcap small")
        XCTAssertThrowsError(try gpu.add(ta, try gpu.tensor([1, 2], shape: [2])))
    }

    /// Views at row offsets, copyRows into a zeroed cache, and one recording for many ops.
    func testViewsCopyRowsAndRecording() throws {
        for backend in [gpu!, staging!] {
            let x = Self.random(10 * 13, seed: 5), w = Self.random(7 * 13, seed: 6)
            let tx = try backend.tensor(x, shape: [10, 13])
            let view = try tx.rows(3..<8)
            let out = try backend.matmul(view, try backend.tensor(w, shape: [7, 13]))
            let cache = try backend.zeros(shape: [12, 13])
            try backend.copyRows(view, into: cache, at: 4)
            let sum = try backend.add(try cache.rows(4..<9), view)
            XCTAssertGreaterThan(backend.pendingCommands, 2, "ops are recorded, not run one by one")
            assertClose(try backend.read(out), Reference.matmul(Array(x[39..<104]), w, n: 5, k: 13, m: 7), 1e-5, "matmul of a view")
            XCTAssertEqual(backend.pendingCommands, 0, "read submits the recording")
            XCTAssertNotNil(backend.lastGPUTime, "timestamp queries around the submission")
            var expectedCache = [Float](repeating: 0, count: 12 * 13)
            expectedCache.replaceSubrange(52..<117, with: x[39..<104])
            XCTAssertEqual(try backend.read(cache), expectedCache)
            XCTAssertEqual(try backend.read(sum), x[39..<104].map { $0 * 2 })
            XCTAssertThrowsError(try backend.copyRows(view, into: cache, at: 8))
            XCTAssertThrowsError(try backend.copyRows(try tx.rows(0..<4), into: tx, at: 2)) {
                XCTAssertTrue("\($0)".contains("overlap"), "\($0)")
            }
        }
    }

    /// The backend is Sendable: ops, uploads and reads from several threads at once (the
    /// validation layer's thread-safety checks watch the queue and the command buffer).
    func testConcurrentUse() throws {
        let backends = [gpu!, staging!]
        let failures = NSLock()
        nonisolated(unsafe) var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let backend = backends[i % 2]
            do {
                let (n, k, m) = (3 + i, 21, 9)
                let x = Self.random(n * k, seed: UInt64(i)), w = Self.random(m * k, seed: UInt64(50 + i))
                let out = try backend.add(try backend.matmul(try backend.tensor(x, shape: [n, k]), try backend.tensor(w, shape: [m, k])),
                                          try backend.zeros(shape: [n, m]))
                let err = Self.relativeError(try backend.read(out), Reference.matmul(x, w, n: n, k: k, m: m))
                if err > 1e-5 { failures.lock(); errors.append("thread \(i): error \(err)"); failures.unlock() }
            } catch {
                failures.lock(); errors.append("thread \(i): \(error)"); failures.unlock()
            }
        }
        XCTAssertEqual(errors, [])
    }

    func testWeightsUploadOnce() throws {
        let bytes = HostBytes(Self.random(20, seed: 1), dtype: .f16)
        let host = bytes.host("w", shape: [4, 5], dtype: .f16)
        let (a, b) = (try gpu.weight(host), try gpu.weight(host))
        XCTAssertTrue(a.storage === b.storage, "the same host bytes share one device buffer")
        XCTAssertTrue(try cpu.tensor([1], shape: [1]).storage !== a.storage)
        XCTAssertThrowsError(try gpu.read(try cpu.tensor([1], shape: [1]))) {
            XCTAssertTrue("\($0)".contains("another backend"), "\($0)")
        }
        XCTAssertThrowsError(try staging.scale(try gpu.tensor([1], shape: [1]), by: 2)) {
            XCTAssertTrue("\($0)".contains("another backend"), "a tensor of another Vulkan backend instance: \($0)")
        }
    }
}
