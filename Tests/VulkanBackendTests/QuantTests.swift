import CPUBackend
import Foundation
import LanternCore
import VulkanBackend
import XCTest

/// GGUF block-quantised weights on Vulkan: matmul and embed dequantise in the shader and must
/// match `Reference` on the CPU-dequantised (`dequantize`, bit-exact with llama.cpp) weights within
/// 1e-5 relative; only the f32 summation order differs.
final class QuantTests: VulkanTestCase {
    static let types: [DType] = DType.allCases.filter(\.isQuantised)

    func testMatmulEveryType() throws {
        for dtype in Self.types {
            let k = 2 * dtype.blockSize
            for n in [1, 3, 9] {
                for m in [5, 67] {
                    let bytes = QuantBytes(dtype, rows: m, k: k, seed: UInt64(n * 100 + m))
                    let host = bytes.host("w", shape: [m, k])
                    let x = Self.random(n * k, seed: UInt64(n + m))
                    let expected = Reference.matmul(x, try host.floats(), n: n, k: k, m: m)
                    let backends = n == 9 && m == 67 ? [gpu!, staging!] : [gpu!]
                    for backend in backends {
                        let out = try backend.matmul(try backend.tensor(x, shape: [n, k]), try backend.weight(host))
                        XCTAssertEqual(out.shape, [n, m])
                        assertClose(try backend.read(out), expected, 1e-5, "matmul \(dtype) n=\(n) k=\(k) m=\(m)")
                    }
                }
            }
        }
    }

    func testReadBackAndRowViews() throws {
        for dtype in Self.types {
            let (m, k) = (6, dtype.blockSize)
            let bytes = QuantBytes(dtype, rows: m, k: k, seed: 5)
            let host = bytes.host("w", shape: [m, k])
            let w = try gpu.weight(host)
            XCTAssertEqual(try gpu.read(w), try host.floats(), "\(dtype) read back")
            // Rows 2..<5 as a view at a byte offset inside the uploaded buffer.
            let view = try w.rows(2..<5)
            let x = Self.random(2 * k, seed: 9)
            let expected = Reference.matmul(x, Array(try host.floats()[(2 * k)..<(5 * k)]), n: 2, k: k, m: 3)
            assertClose(try gpu.read(try gpu.matmul(try gpu.tensor(x, shape: [2, k]), view)), expected, 1e-5, "\(dtype) row view")
        }
    }

    func testEmbedEveryType() throws {
        let tokens: [Int32] = [0, 10, 3, 3, 7]
        for dtype in Self.types {
            let (vocab, width) = (11, 2 * dtype.blockSize)
            let bytes = QuantBytes(dtype, rows: vocab, k: width, seed: 17)
            let host = bytes.host("embed", shape: [vocab, width])
            let out = try gpu.embed(tokens, table: try gpu.weight(host), scale: 2.5)
            assertClose(try gpu.read(out), Reference.embed(tokens, table: try host.floats(), width: width, scale: 2.5), 1e-6,
                        "embed \(dtype)")
        }
    }

    func testRejectsPartialBlockRows() throws {
        let bytes = QuantBytes(.q8_0, rows: 2, k: 64, seed: 1)
        let w = try gpu.weight(bytes.host("w", shape: [4, 32]))
        XCTAssertNoThrow(try gpu.matmul(try gpu.tensor(Self.random(32, seed: 1), shape: [1, 32]), w))
        let odd = try gpu.weight(bytes.host("w", shape: [8, 16]))
        XCTAssertThrowsError(try gpu.matmul(try gpu.tensor(Self.random(16, seed: 1), shape: [1, 16]), odd)) {
            XCTAssertTrue("\($0)".contains("not whole blocks"), "\($0)")
        }
    }
}

/// Random quantised blocks (kept alive as a HostTensor's owner) with small finite f16 scales at
/// each type's scale offsets, so every decoded value is finite.
final class QuantBytes: @unchecked Sendable {
    let data: UnsafeMutableRawBufferPointer
    let dtype: DType

    init(_ dtype: DType, rows: Int, k: Int, seed: UInt64) {
        self.dtype = dtype
        let blocks = rows * k / dtype.blockSize
        data = .allocate(byteCount: blocks * dtype.blockBytes, alignment: 16)
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        for i in 0..<data.count { data[i] = UInt8(truncatingIfNeeded: next()) }
        let halves: [Int] = switch dtype {
        case .q4_1, .q5_1, .q4_K, .q5_K: [0, 2]
        case .q6_K: [208]
        default: [0]
        }
        for b in 0..<blocks {
            for off in halves {
                let h = Float16(Float(Int(next() % 2001) - 1000) / 20000).bitPattern
                data.storeBytes(of: h, toByteOffset: b * dtype.blockBytes + off, as: UInt16.self)
            }
        }
    }

    deinit { data.deallocate() }

    func host(_ name: String, shape: [Int]) -> HostTensor {
        HostTensor(name: name, shape: shape, dtype: dtype, bytes: UnsafeRawBufferPointer(data), owner: self)
    }
}
