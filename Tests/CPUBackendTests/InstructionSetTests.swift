@testable import CPUBackend
import CPUKernelChoice
import Foundation
import LanternCore
import XCTest

/// Every build of the CPU kernels this machine runs (AVX-512, AVX2, baseline), side by side in one
/// process: each against the plain references, so a kernel that only one instruction set compiles
/// (the AVX-512 row dots, the 16-lane tiles) is checked wherever the CI machine has it. The rest of
/// the suite runs on the build `LANTERN_ISA` picks (`make test` runs it under each).
final class InstructionSetTests: XCTestCase {
    var backends: [CPUBackend] { KernelChoice.supported.map { try! CPUBackend(instructionSet: $0) } }

    func testDetectionAgreesWithTheCPUFlags() throws {
        #if arch(x86_64) && os(Linux)
        let flags = Set(try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).split(whereSeparator: \.isWhitespace).map(String.init))
        let v3 = ["avx2", "fma", "f16c", "bmi1", "bmi2", "movbe"].allSatisfy(flags.contains)
        let v4 = v3 && ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        XCTAssertEqual(KernelChoice.supported.contains(.avx2), v3, "cpuinfo flags: AVX2 level")
        XCTAssertEqual(KernelChoice.supported.contains(.avx512), v4, "cpuinfo flags: AVX-512 level")
        #endif
        XCTAssertEqual(KernelChoice.supported.last, .baseline)
        XCTAssertEqual(KernelChoice.supported, KernelChoice.supported.sorted(by: >), "widest first")
        for backend in backends {
            XCTAssertTrue(backend.name.contains(backend.kernels.instructionSet.rawValue), backend.name)
        }
    }

    func testEveryBuildMultipliesEveryDTypeLikeTheReference() throws {
        let k = 256, m = 40
        for backend in backends {
            let isa = backend.kernels.instructionSet.rawValue
            for dtype in DType.allCases {
                let bytes = Self.weightBytes(dtype, rows: m, k: k)
                try bytes.withUnsafeBytes { raw in
                    let host = HostTensor(name: "w", shape: [m, k], dtype: dtype, bytes: raw, owner: nil)
                    let wf = try host.floats()
                    let w = try backend.weight(host)
                    // 1 and 3 rows: the row dots; 5: the decoded groups; 8 and 21: the packed GEMM.
                    for n in [1, 3, 5, 8, 21] {
                        let x = Self.values(n * k, seed: UInt64(n))
                        let got = try backend.read(try backend.matmul(try backend.tensor(x, shape: [n, k]), w))
                        assertClose(got, Reference.matmul(x, wf, n: n, k: k, m: m), "\(isa) \(dtype) n=\(n)")
                    }
                    let dy = Self.values(3 * m, seed: 5)
                    let dx = try backend.read(try backend.matmulBackward(try backend.tensor(dy, shape: [3, m]), w))
                    assertClose(dx, Reference.matmul(dy, Reference.transpose(wf, n: m, m: k), n: 3, k: m, m: k), "\(isa) \(dtype) backward")
                }
            }
        }
    }

    /// Decode's 16-bit row dot over rows that end in a 16-lane step or a scalar tail.
    func testEveryBuildsFloatRowDotsHandleEveryRowLength() throws {
        for backend in backends {
            let isa = backend.kernels.instructionSet.rawValue
            for dtype in [DType.bf16, .f16, .f32] {
                for k in [5, 16, 48, 300] {
                    let m = 7
                    let bytes = Self.weightBytes(dtype, rows: m, k: k)
                    try bytes.withUnsafeBytes { raw in
                        let host = HostTensor(name: "w", shape: [m, k], dtype: dtype, bytes: raw, owner: nil)
                        let (wf, w) = (try host.floats(), try backend.weight(host))
                        for n in [1, 2, 3] {
                            let x = Self.values(n * k, seed: UInt64(k + n))
                            let got = try backend.read(try backend.matmul(try backend.tensor(x, shape: [n, k]), w))
                            assertClose(got, Reference.matmul(x, wf, n: n, k: k, m: m), "\(isa) \(dtype) n=\(n) k=\(k)")
                        }
                    }
                }
            }
        }
    }

    func testEveryBuildRunsTheRowOpsAndAttentionLikeTheReference() throws {
        let p = AttentionParams(heads: 4, kvHeads: 2, headDim: 32, scale: 0.18, softcap: 20, window: 11)
        let rope = RopeParams(theta: 10_000, rotaryDim: 32)
        for backend in backends {
            let isa = backend.kernels.instructionSet.rawValue
            // 3 queries: the per-query kernel; 40: the blocked one.
            for n in [3, 40] {
                let keys = n + 5
                let q = Self.values(n * 128, seed: 1), kv = Self.values(keys * 64, seed: 2), v = Self.values(keys * 64, seed: 3)
                let (out, pattern) = try backend.attention(q: try backend.tensor(q, shape: [n, 128]), k: try backend.tensor(kv, shape: [keys, 64]),
                                                           v: try backend.tensor(v, shape: [keys, 64]), queryStart: 5, keyCount: keys,
                                                           params: p, wantPattern: true)
                let want = Reference.attention(q: q, k: kv, v: v, n: n, queryStart: 5, keyCount: keys, params: p)
                assertClose(try backend.read(out), want.out, "\(isa) attention n=\(n)")
                assertClose(try backend.read(pattern!), want.pattern, "\(isa) pattern n=\(n)")
                let x = try backend.tensor(q, shape: [n, 128])
                assertClose(try backend.read(try backend.rope(x, heads: 4, headDim: 32, start: 3, params: rope)),
                            Reference.rope(q, heads: 4, headDim: 32, start: 3, params: rope), "\(isa) rope n=\(n)")
                let gain = Self.values(128, seed: 9)
                assertClose(try backend.read(try backend.rmsNorm(x, weight: try backend.tensor(gain, shape: [128]), eps: 1e-6, form: .gemma)),
                            Reference.rmsNorm(q, weight: gain, eps: 1e-6, form: .gemma), "\(isa) rmsNorm n=\(n)")
                let bias = Self.values(128, seed: 10)
                assertClose(try backend.read(try backend.layerNorm(x, weight: try backend.tensor(gain, shape: [128]),
                                                                   bias: try backend.tensor(bias, shape: [128]), eps: 1e-5)),
                            Reference.layerNorm(q, weight: gain, bias: bias, eps: 1e-5), "\(isa) layerNorm n=\(n)")
                for form in [GELUApproximation.tanh, .erf] {
                    assertClose(try backend.read(try backend.gelu(x, approximation: form)), Reference.gelu(q, approximation: form),
                                "\(isa) gelu \(form) n=\(n)")
                }
                let dy = Self.values(n * 128, seed: 14)
                let dx = try backend.layerNormBackward(x, weight: try backend.tensor(gain, shape: [128]), eps: 1e-5,
                                                       gradient: try backend.tensor(dy, shape: [n, 128]), frozenScale: false)
                assertClose(try backend.read(dx), BackwardReference.layerNormBackward(q.map(Double.init), weight: gain.map(Double.init), eps: 1e-5,
                                                                                      gradient: dy.map(Double.init)).map { Float($0) },
                            "\(isa) layerNormBackward n=\(n)")
                let up = try backend.tensor(Self.values(n * 128, seed: 4), shape: [n, 128])
                assertClose(try backend.read(try backend.gegluTanh(gate: x, up: up)),
                            Reference.gegluTanh(gate: q, up: try backend.read(up)), "\(isa) gegluTanh n=\(n)")
                assertClose(try backend.read(try backend.swiglu(gate: x, up: up)),
                            Reference.swiglu(gate: q, up: try backend.read(up)), "\(isa) swiglu n=\(n)")
            }
        }
    }

    func testEveryBuildDecodesSparseCodesAndMultipliesVectorsLikeTheReference() throws {
        let n = 3, width = 512, dIn = 48
        var acts = [Float](repeating: 0, count: n * width)
        for i in stride(from: 7, to: acts.count, by: 37) { acts[i] = Float(i % 11) - 4.5 }
        let rows = Self.values(width * dIn, seed: 6), bias = Self.values(dIn, seed: 8)
        let want = zip(Reference.matmul(acts, Reference.transpose(rows, n: width, m: dIn), n: n, k: width, m: dIn),
                       (0..<(n * dIn)).map { bias[$0 % dIn] }).map(+)
        let a = Self.values(100, seed: 12), b = Self.values(100, seed: 13)
        for backend in backends {
            let isa = backend.kernels.instructionSet.rawValue
            let out = try backend.saeDecode(try backend.tensor(acts, shape: [n, width]), decoder: try backend.tensor(Reference.transpose(rows, n: width, m: dIn), shape: [dIn, width]),
                                            rows: try backend.tensor(rows, shape: [width, dIn]), bias: try backend.tensor(bias, shape: [dIn]))
            assertClose(try backend.read(out), want, "\(isa) sparse decode")
            var y = b
            y.withUnsafeMutableBufferPointer { backend.kernels.axpy($0.baseAddress!, 0.5, a, count: 100) }
            assertClose(y, zip(a, b).map { 0.5 * $0 + $1 }, "\(isa) axpy")
            assertClose([backend.kernels.dot(a, b, count: 100)], [zip(a, b).map(*).reduce(0, +)], "\(isa) dot")
        }
    }

    /// Random blocks for the GGUF types; for the float types, the bytes of values in [-1, 1].
    static func weightBytes(_ dtype: DType, rows: Int, k: Int) -> [UInt8] {
        let v = values(rows * k, seed: 11)
        switch dtype {
        case .f32: return v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        case .f16: return v.flatMap { withUnsafeBytes(of: Float16($0).bitPattern.littleEndian, Array.init) }
        case .bf16: return v.flatMap { withUnsafeBytes(of: UInt16($0.bitPattern >> 16).littleEndian, Array.init) }
        default: return QuantMatmulTests.randomBlocks(dtype, rows: rows, k: k, seed: 11)
        }
    }

    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = QuantTestRNG(seed: seed)
        return (0..<count).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
    }

    /// Within 2e-5 of the largest reference magnitude: sums in another order, and in the baseline
    /// build multiply-then-add for fused multiply-adds.
    func assertClose(_ got: [Float], _ want: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        let scale = max(want.map(abs).max() ?? 0, 1e-6)
        let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst / scale, 2e-5, "\(what): worst difference \(worst) of scale \(scale)", file: file, line: line)
    }
}
