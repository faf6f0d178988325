@testable import CPUBackend
@testable import CPUKernels
import LanternCore
import XCTest

/// The in-kernel dequantising matmul against Reference.matmul on the dequantised weights.
final class QuantMatmulTests: XCTestCase {
    /// Random blocks with small, finite f16 scales at each type's scale offsets.
    static func randomBlocks(_ dtype: DType, rows: Int, k: Int, seed: UInt64) -> [UInt8] {
        var rng = QuantTestRNG(seed: seed)
        let blocks = rows * k / dtype.blockSize
        var bytes = (0..<(blocks * dtype.blockBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let halves: [Int] = switch dtype {
        case .q4_1, .q5_1, .q4_K, .q5_K: [0, 2]
        case .q6_K: [208]
        default: [0]
        }
        for b in 0..<blocks {
            for off in halves {
                let h = Float16(Float(Int(rng.next() % 2001) - 1000) / 20000).bitPattern
                bytes[b * dtype.blockBytes + off] = UInt8(h & 0xFF)
                bytes[b * dtype.blockBytes + off + 1] = UInt8(h >> 8)
            }
        }
        return bytes
    }

    func check(_ dtype: DType, n: Int, k: Int, m: Int) throws {
        let backend = CPUBackend()
        let bytes = Self.randomBlocks(dtype, rows: m, k: k, seed: UInt64(n * 1000 + k + m))
        var rng = QuantTestRNG(seed: 7)
        let x = (0..<(n * k)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
        try bytes.withUnsafeBytes { raw in
            let host = HostTensor(name: "w", shape: [m, k], dtype: dtype, bytes: raw, owner: nil)
            let w = try backend.weight(host)
            let got = try backend.read(try backend.matmul(try backend.tensor(x, shape: [n, k]), w))
            let wf = try host.floats()
            XCTAssertEqual(try backend.read(w), wf, "\(dtype): read back")
            let want = Reference.matmul(x, wf, n: n, k: k, m: m)
            var worst: Float = 0
            let scale = want.map(abs).max() ?? 1
            for i in 0..<want.count { worst = max(worst, abs(got[i] - want[i]) / max(scale, 1e-6)) }
            XCTAssertLessThan(worst, 1e-5, "\(dtype) n=\(n) k=\(k) m=\(m): worst relative error \(worst)")
        }
    }

    func testEveryTypeEveryShape() throws {
        for dtype in DType.allCases where dtype.isQuantised {
            for (n, m) in [(1, 7), (3, 13), (5, 24), (9, 4)] {
                try check(dtype, n: n, k: 512, m: m)
            }
            // Scratch groups past the fused rows: a partial group of weight rows, partial row tiles.
            try check(dtype, n: 13, k: 768, m: 150)
            // The packed GEMM: partial row tiles, partial panels, a k slice shorter than kc.
            try check(dtype, n: 70, k: 768, m: 150)
        }
    }

    /// The kernel's SIMD decoders give exactly the reference decoders' floats.
    func testSIMDDecodersAreBitExact() throws {
        let decoders: [any SIMDBlockDecoder.Type] = [Q8_0SIMD.self, Q4_0SIMD.self, Q4_1SIMD.self, Q5_0SIMD.self,
                                                     Q5_1SIMD.self, Q4_KSIMD.self, Q5_KSIMD.self, Q6_KSIMD.self]
        for decoder in decoders {
            let dtype = decoder.dtype
            let blocks = 64
            let bytes = Self.randomBlocks(dtype, rows: 1, k: blocks * dtype.blockSize, seed: 99)
            let want = try bytes.withUnsafeBytes { try dequantize(dtype, bytes: $0, count: blocks * dtype.blockSize) }
            var got = [Float](repeating: .nan, count: want.count)
            bytes.withUnsafeBytes { raw in
                got.withUnsafeMutableBufferPointer { out in
                    for b in 0..<blocks {
                        decoder.decode(raw.baseAddress! + b * dtype.blockBytes, out.baseAddress! + b * dtype.blockSize)
                    }
                }
            }
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(dtype)")
            guard decoder.readsBlockOrder else { continue }
            // The lane-order decoding (the packed GEMM's panels): the same bits, permuted.
            var ordered = [Float](repeating: .nan, count: want.count)
            bytes.withUnsafeBytes { raw in
                ordered.withUnsafeMutableBufferPointer { out in
                    for b in 0..<blocks { decoder.decodeBlockOrder(raw.baseAddress! + b * dtype.blockBytes, out.baseAddress! + dtype.blockSize * b) }
                }
            }
            XCTAssertEqual(ordered.map(\.bitPattern), blockOrder(want).map(\.bitPattern), "\(dtype) in block order")
        }
    }

    /// Decode's row dots (scales applied per block) against a double-precision sum over the
    /// dequantised weights, on odd and even block counts.
    func testRowDotsAgainstDoubleReference() throws {
        let decoders: [any SIMDBlockDecoder.Type] = [Q8_0SIMD.self, Q4_0SIMD.self, Q4_1SIMD.self, Q5_0SIMD.self,
                                                     Q5_1SIMD.self, Q4_KSIMD.self, Q5_KSIMD.self, Q6_KSIMD.self]
        for decoder in decoders {
            let dtype = decoder.dtype
            for blocks in [1, 2, 3, 20] {
                let k = blocks * dtype.blockSize
                let bytes = Self.randomBlocks(dtype, rows: 1, k: k, seed: UInt64(blocks))
                var rng = QuantTestRNG(seed: 11)
                let x = (0..<k).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
                let w = try bytes.withUnsafeBytes { try dequantize(dtype, bytes: $0, count: k) }
                var want = 0.0, magnitude = 0.0
                for i in 0..<k { want += Double(w[i]) * Double(x[i]); magnitude += abs(Double(w[i]) * Double(x[i])) }
                let xs = decoder.readsBlockOrder ? blockOrder(x) : x
                let got = bytes.withUnsafeBytes { raw in xs.withUnsafeBufferPointer { decoder.dot(raw.baseAddress!, $0.baseAddress!, blocks: blocks) } }
                XCTAssertLessThan(abs(Double(got) - want), 1e-6 * max(magnitude, 1e-30), "\(dtype), \(blocks) blocks")
            }
        }
    }

    /// The kernel reaches each type's own row dot through the generic protocol (not the per-weight
    /// default): the same bits as the concrete call.
    func testGenericDispatchTakesBlock32Dots() throws {
        func viaProtocol<B: SIMDBlockDecoder>(_: B.Type, _ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ blocks: Int) -> Float {
            B.dot(w, x, blocks: blocks)
        }
        let blocks = 40
        var rng = QuantTestRNG(seed: 5)
        let x = (0..<(blocks * 256)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
        func check<B: SIMDBlockDecoder>(_ b: B.Type, _ concrete: (UnsafeRawPointer, UnsafePointer<Float>) -> Float) {
            var differs = false
            for seed in 1...4 {
                let bytes = Self.randomBlocks(B.dtype, rows: 1, k: blocks * B.dtype.blockSize, seed: UInt64(seed))
                bytes.withUnsafeBytes { raw in
                    x.withUnsafeBufferPointer { xs in
                        var sink = DotSink(x: xs.baseAddress!)
                        for i in 0..<blocks {
                            sink.x = xs.baseAddress! + i * B.dtype.blockSize
                            B.decode(raw.baseAddress! + i * B.dtype.blockBytes, &sink)
                        }
                        let ordered = B.readsBlockOrder ? blockOrder(x) : x
                        let (generic, direct) = ordered.withUnsafeBufferPointer {
                            (viaProtocol(B.self, raw.baseAddress!, $0.baseAddress!, blocks), concrete(raw.baseAddress!, $0.baseAddress!))
                        }
                        XCTAssertEqual(generic.bitPattern, direct.bitPattern, "\(B.dtype)")
                        differs = differs || generic.bitPattern != sink.sum.bitPattern
                    }
                }
            }
            // The per-weight path sums in another order: some of four rows must differ in bits.
            XCTAssertTrue(differs, "\(B.dtype): the generic call gave the per-weight path's bits every time")
        }
        check(Q8_0SIMD.self) { Q8_0SIMD.dot($0, $1, blocks: blocks) }
        check(Q4_0SIMD.self) { Q4_0SIMD.dot($0, $1, blocks: blocks) }
        check(Q4_1SIMD.self) { Q4_1SIMD.dot($0, $1, blocks: blocks) }
        check(Q5_0SIMD.self) { Q5_0SIMD.dot($0, $1, blocks: blocks) }
        check(Q5_1SIMD.self) { Q5_1SIMD.dot($0, $1, blocks: blocks) }
        check(Q4_KSIMD.self) { Q4_KSIMD.dot($0, $1, blocks: blocks) }
        check(Q6_KSIMD.self) { Q6_KSIMD.dot($0, $1, blocks: blocks) }
    }

    /// `BlockOrder.permute` of `x`: position 8r + i of each block of 32 holds element 4i + r.
    func blockOrder(_ x: [Float]) -> [Float] {
        var out = [Float](repeating: .nan, count: x.count)
        for base in stride(from: 0, to: x.count, by: 32) {
            for r in 0..<4 { for i in 0..<8 { out[base + 8 * r + i] = x[base + 4 * i + r] } }
        }
        XCTAssertEqual(out, x.withUnsafeBufferPointer { src in
            [Float](unsafeUninitializedCapacity: x.count) { buf, n in
                BlockOrder.permute(src.baseAddress!, buf.baseAddress!, count: x.count); n = x.count
            }
        })
        return out
    }

    func testRejectsPartialBlockRows() throws {
        let backend = CPUBackend()
        let bytes = [UInt8](repeating: 0, count: 34 * 2)
        try bytes.withUnsafeBytes { raw in
            let w = try backend.weight(HostTensor(name: "w", shape: [4, 16], dtype: .q8_0, bytes: raw, owner: nil))
            XCTAssertThrowsError(try backend.matmul(try backend.zeros(shape: [1, 16]), w))
        }
    }
}

struct QuantTestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
