import Foundation
import Lantern

/// `bench --only matvec`: decode's matrix-vector product on every weight type, on a matrix the size
/// of the default model's unembedding (163,840 × 1,024: k a whole number of K-quant blocks), as GB/s of weights
/// read beside a streaming read measured in the same run. Decode is this product on every weight
/// matrix, so these figures are its roofline, type by type; best-of-N times, robust to a busy machine.
extension Bench {
    static let matvecTypes: [DType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K, .bf16, .f32]

    func matvecBench(_ backend: any Backend) throws -> [[String: Any]] {
        let (m, k) = (163_840, 1024)
        let stream = StreamRead.gigabytesPerSecond()
        if !json {
            print(String(format: "matvec (1 × %d → %d), %@: GB/s of weights read; streaming read %.1f GB/s", k, m, backend.name, stream))
            print(pad("type", 8) + pad("MB", 8) + pad("ms", 8) + pad("GB/s", 8) + "of stream")
        }
        var rows: [[String: Any]] = []
        let x = try backend.matrix((0..<k).map { Float($0 % 17) / 17 - 0.5 }, rows: 1, cols: k)
        for dtype in Self.matvecTypes {
            let host = Self.randomWeights(dtype, m: m, k: k)
            let w = try backend.weight(host)
            let seconds = try bestTime(atLeast: 5) { _ = try backend.matmul(x, w); try backend.finish() }
            let bytes = host.bytes.count
            let gbs = Double(bytes) / seconds / 1e9
            rows.append(["dtype": "\(dtype)", "bytes": bytes, "seconds": seconds, "gigabytes_per_second": gbs,
                         "stream_read_gigabytes_per_second": stream, "backend": backend.name])
            if !json {
                print(pad("\(dtype)", 8) + pad(String(format: "%.0f", Double(bytes) / 1e6), 8)
                      + pad(String(format: "%.2f", seconds * 1e3), 8) + pad(String(format: "%.1f", gbs), 8)
                      + String(format: "%.0f%%", 100 * gbs / stream))
            }
        }
        return rows
    }

    /// m × k weights of `dtype` with random codes and small finite f16 scales where the type has them.
    static func randomWeights(_ dtype: DType, m: Int, k: Int) -> HostTensor {
        let blocks = m * k / dtype.blockSize, blockBytes = dtype.blockBytes
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blocks * blockBytes, alignment: 64)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return state >> 33 }
        // Codes: every byte random; for f32/bf16, small values instead of random bit patterns.
        switch dtype {
        case .f32:
            let f = buffer.bindMemory(to: Float.self)
            for i in 0..<f.count { f[i] = Float(Int(next() % 2001) - 1000) / 20000 }
        case .bf16, .f16:
            let h = buffer.bindMemory(to: UInt16.self)
            for i in 0..<h.count { h[i] = dtype == .bf16 ? UInt16((Float(Int(next() % 2001) - 1000) / 20000).bitPattern >> 16)
                                                         : Float16(Float(Int(next() % 2001) - 1000) / 20000).bitPattern }
        default:
            for i in 0..<buffer.count { buffer[i] = UInt8(truncatingIfNeeded: next()) }
            let halves: [Int] = switch dtype {
            case .q4_1, .q5_1, .q4_K, .q5_K: [0, 2]
            case .q6_K: [208]
            default: [0]
            }
            for b in 0..<blocks {
                for offset in halves {
                    buffer.storeBytes(of: Float16(Float(Int(next() % 2001) - 1000) / 20000).bitPattern,
                                      toByteOffset: b * blockBytes + offset, as: UInt16.self)
                }
            }
        }
        return HostTensor(name: "bench", shape: [m, k], dtype: dtype, bytes: UnsafeRawBufferPointer(buffer), owner: BufferOwner(buffer))
    }
}
