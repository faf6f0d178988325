import CPUBackend
import Foundation
import LanternCore
import Models
@testable import VulkanBackend
import XCTest

/// The many-row products' two tile shapes and the opt-in f16 arithmetic. The register-blocked
/// tiles (128×128, 8×8 per invocation) start at `largeTileGroups` workgroups, which the real
/// model's unembedding reaches but the small shapes here do not: the tests lower it to 1. The f16
/// variants are not exact; their error against the f64 reference is measured and bounded, and it
/// must not be zero (an f16 run that matched f32 would mean the f32 kernel ran).
final class MatmulTileTests: VulkanTestCase {
    static let shapes = [(9, 37, 5), (130, 100, 67), (129, 33, 257), (200, 300, 130), (64, 16, 64)]

    private func withLargeTiles<T>(_ backend: VulkanBackend, _ body: () throws -> T) rethrows -> T {
        let before = backend.largeTileGroups
        backend.largeTileGroups = 1
        defer { backend.largeTileGroups = before }
        return try body()
    }

    func testRegisterBlockedTilesF32() throws {
        for (i, (n, k, m)) in Self.shapes.enumerated() {
            let x = Self.random(n * k, seed: UInt64(300 + i)), w = Self.random(m * k, seed: UInt64(400 + i))
            let expected = Reference.matmul(x, w, n: n, k: k, m: m)
            for backend in [gpu!, staging!] {
                let out = try withLargeTiles(backend) { try backend.matmul(try backend.tensor(x, shape: [n, k]), try backend.tensor(w, shape: [m, k])) }
                assertClose(try backend.read(out), expected, 1e-5, "blocked matmul f32 n=\(n) k=\(k) m=\(m)")
            }
        }
        XCTAssertTrue(gpu.pipelines.made.contains("matmul:0,2,256"), "the register-blocked mode ran: \(gpu.pipelines.made.sorted())")
    }

    func testRegisterBlockedTilesEveryWeightType() throws {
        for dtype in DType.allCases.filter(\.isQuantised) + [.f16, .bf16] {
            let (n, m) = (130, 131), k = 2 * max(dtype.blockSize, 32)  // m > 112: every one of the 8 column strides
            let host: HostTensor
            if dtype.isQuantised {
                host = QuantBytes(dtype, rows: m, k: k, seed: 7).host("w", shape: [m, k])
            } else {
                host = HostBytes(Self.random(m * k, seed: 8), dtype: dtype).host("w", shape: [m, k], dtype: dtype)
            }
            let x = Self.random(n * k, seed: 9)
            let expected = Reference.matmul(x, try host.floats(), n: n, k: k, m: m)
            let out = try withLargeTiles(gpu) { try gpu.matmul(try gpu.tensor(x, shape: [n, k]), try gpu.weight(host)) }
            assertClose(try gpu.read(out), expected, 1e-5, "blocked matmul \(dtype)")
        }
    }

    /// A backend with f16 tile arithmetic, or a skip where the device has none (said, not passed).
    static let halfPrecision: Result<VulkanBackend, any Error> = Result {
        try VulkanBackend(allowCPU: true, validation: true, matmul: .f16)
    }

    private func f16Backend() throws -> VulkanBackend {
        guard try Self.shared.get().deviceInfo.shaderFloat16 else {
            throw XCTSkip("\(gpu.deviceInfo.name) has no f16 shader arithmetic: the f16 matmul variants are not run")
        }
        return try Self.halfPrecision.get()
    }

    func testF16ArithmeticErrorIsMeasuredAndBounded() throws {
        let half = try f16Backend()
        XCTAssertTrue(half.name.contains("f16 matmul"), half.name)
        var worst: Float = 0
        for large in [false, true] {
            for (i, (n, k, m)) in Self.shapes.enumerated() {
                let x = Self.random(n * k, seed: UInt64(500 + i)), w = Self.random(m * k, seed: UInt64(600 + i))
                let expected = Reference.matmul(x, w, n: n, k: k, m: m)
                let run = { try half.matmul(try half.tensor(x, shape: [n, k]), try half.tensor(w, shape: [m, k])) }
                let values = try half.read(large ? try withLargeTiles(half, run) : try run())
                let err = Self.relativeError(values, expected)
                worst = max(worst, err)
                // Inputs in [-1, 1) rounded to f16 (2⁻¹¹ relative) and f16 sums of 8 or 16 products.
                XCTAssertLessThan(err, 4e-3, "f16 matmul n=\(n) k=\(k) m=\(m) large=\(large)")
                XCTAssertGreaterThan(err, 1e-5, "f16 matmul n=\(n) k=\(k) m=\(m) large=\(large): as exact as f32, so the f32 kernel ran")
            }
        }
        print("f16 matmul arithmetic on \(half.deviceInfo.name): worst relative error \(worst) on random [-1, 1) inputs")
        XCTAssertTrue(half.pipelines.made.contains("matmul_f16:0,2,256") && half.pipelines.made.contains("matmul_f16:0,0,256"),
                      "both tile shapes ran in f16: \(half.pipelines.made.sorted())")
    }

    func testF16ArithmeticLeavesDecodeExact() throws {
        let half = try f16Backend()
        let (n, k, m) = (3, 100, 67)
        let x = Self.random(n * k, seed: 11), w = Self.random(m * k, seed: 12)
        let out = try half.matmul(try half.tensor(x, shape: [n, k]), try half.tensor(w, shape: [m, k]))
        assertClose(try half.read(out), Reference.matmul(x, w, n: n, k: k, m: m), 1e-5, "matrix-vector products stay f32")
    }

    /// The error f16 arithmetic puts into a whole forward pass, per fixture: logits against the
    /// exact CPU backend (printed; bounded loosely so a broken variant still fails).
    func testF16ArithmeticOnForwardPasses() throws {
        let half = try f16Backend()
        for name in ["gemma2_tiny", "gemma3_tiny", "llama_tiny"] {
            let dir = ForwardTests.fixtures.appendingPathComponent(name).path
            let model = try Transformer(directory: dir, backend: half), exact = try Transformer(directory: dir, backend: cpu)
            let tokens: [Int32] = (0..<40).map { Int32(($0 * 7 + 3) % 200) }
            let logits = try half.read(try model.forward(tokens)!), expected = try cpu.read(try exact.forward(tokens)!)
            let err = Self.relativeError(logits, expected)
            print("f16 matmul arithmetic, \(name), 40 tokens: logits' relative error \(err)")
            XCTAssertLessThan(err, 2e-2, name)
            XCTAssertGreaterThan(err, 0, name)
        }
    }
}
