import LanternCore

/// out[n, m] = x[n, k] · w[m, k]ᵀ with `w` block-quantised (GGUF Q4_0 … Q6_K), dequantised inside
/// the kernel: weights stay quantised in memory, so decode reads each weight's few bits once.
///
/// Threads take groups of `groupRows` weight rows. A group is decoded into a small f32 scratch
/// (≤ 12 rows × k floats: L1/L2-resident), then the f32 register tiles of `Matmul` run every
/// activation row against it. Decoding costs O(m·k) per call whatever n is, so prefill pays it
/// once for all its rows.
enum QuantMatmul {
    /// A multiple of 3 (Matmul's tiles take three weight rows).
    static let groupRows = 12

    static func run<B: QuantBlock>(_: B.Type, x: UnsafePointer<Float>, w: UnsafeRawPointer,
                                   out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let blocksPerRow = k / B.blockSize
        let rowBytes = blocksPerRow * B.blockBytes
        let groups = (m + groupRows - 1) / groupRows
        let args = UncheckedBox((x, w, out))
        Parallel.forEach(groups) { g in
            let (x, w, out) = args.value
            let j0 = g * groupRows, j1 = min(m, j0 + groupRows)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: groupRows * k) { scratch in
                let buf = scratch.baseAddress!
                for j in j0..<j1 {
                    let src = w + j * rowBytes, dst = buf + (j - j0) * k
                    for b in 0..<blocksPerRow {
                        B.decode(src + b * B.blockBytes, dst + b * B.blockSize)
                    }
                }
                multiplyGroup(x: x, w: UnsafeRawPointer(buf), rows: j1 - j0, out: out + j0, n: n, k: k, m: m)
            }
        }
    }

    /// out[:, 0..<rows] (row stride m) = x · wᵀ for `rows` decoded f32 weight rows of length k.
    @inline(__always)
    static func multiplyGroup(x: UnsafePointer<Float>, w: UnsafeRawPointer, rows: Int,
                              out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let ldw = k * 4
        var i = 0
        while i + 4 <= n {
            var j = 0
            while j + 3 <= rows {
                Matmul.tile4x3(F32Load.self, x + i * k, k, w + j * ldw, ldw, out + i * m + j, m, 0, k, true)
                j += 3
            }
            while j < rows {
                for r in 0..<4 {
                    Matmul.tile1x1(F32Load.self, x + (i + r) * k, w + j * ldw, out + (i + r) * m + j, 0, k, true)
                }
                j += 1
            }
            i += 4
        }
        while i < n {
            var j = 0
            while j + 3 <= rows {
                Matmul.tile1x3(F32Load.self, x + i * k, w + j * ldw, ldw, out + i * m + j, 0, k, true)
                j += 3
            }
            while j < rows {
                Matmul.tile1x1(F32Load.self, x + i * k, w + j * ldw, out + i * m + j, 0, k, true)
                j += 1
            }
            i += 1
        }
    }
}
