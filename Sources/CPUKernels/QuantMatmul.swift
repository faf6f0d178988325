import CIntrinsics
import LanternCore

/// out[n, m] = x[n, k] · w[m, k]ᵀ with `w` block-quantised (GGUF Q4_0 … Q6_K), dequantised inside
/// the kernel: weights stay quantised in memory, so decode reads each weight's few bits once.
///
/// Few activation rows (decode, n < `fusedBelow`): each weight block is decoded into registers and
/// multiplied straight into the activation row's accumulator (`DotSink`), so the weights are
/// read once and never stored as floats.
///
/// Many rows (prefill, n ≥ `CPUKernelPlan.quantisedPackedFromRows`): `QuantPackedMatmul`, the packed GEMM.
/// In between: threads take groups of `groupRows` weight rows. A group is decoded into a
/// small f32 scratch (12 rows × k floats: L1/L2-resident), then the f32 register tiles of
/// `Matmul` run every activation row against it; decoding costs O(m·k) whatever n is.
enum QuantMatmul {
    /// A multiple of 3 (Matmul's tiles take three weight rows).
    static let groupRows = 12
    static let fusedBelow = 4
    static let prefetchRows = 4

    static func run<B: SIMDBlockDecoder>(_: B.Type, x: UnsafePointer<Float>, w: UnsafeRawPointer,
                                         out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let blockSize = B.dtype.blockSize, blockBytes = B.dtype.blockBytes
        let blocksPerRow = k / blockSize
        let rowBytes = blocksPerRow * blockBytes
        if n >= CPUKernelPlan.quantisedPackedFromRows {
            QuantPackedMatmul.run(B.self, x: x, w: w, out: out, n: n, k: k, m: m)
            return
        }
        // Both few-row paths read the 32-weight types' codes in their lane order: the activations
        // go in the same order, once, so each dot product has the same terms.
        let ordered = B.readsBlockOrder ? UnsafeMutablePointer<Float>.allocate(capacity: n * k) : nil
        defer { ordered?.deallocate() }
        if let ordered { BlockOrder.permute(x, ordered, count: n * k) }
        let args = UncheckedBox((UnsafePointer(ordered) ?? x, w, out))
        if n < fusedBelow {
            Parallel.forRanges(m, minChunk: 16, oversplit: 8) { rows in
                let (x, w, out) = args.value
                dotRows(B.self, w, rows: rows, x: x, out: out, n: n, k: k, m: m)
            }
            return
        }
        let groups = (m + groupRows - 1) / groupRows
        // Contiguous runs of groups per task: a 262 144-row unembedding is 21 846 groups.
        Parallel.forRanges(groups, oversplit: 8) { range in
            let (x, w, out) = args.value
            withUnsafeTemporaryAllocation(of: Float.self, capacity: groupRows * k) { scratch in
                let buf = scratch.baseAddress!
                for g in range {
                    let j0 = g * groupRows, j1 = min(m, j0 + groupRows)
                    for j in j0..<j1 {
                        let src = w + j * rowBytes, dst = buf + (j - j0) * k
                        if B.readsBlockOrder {
                            for b in 0..<blocksPerRow { B.decodeBlockOrder(src + b * blockBytes, dst + blockSize * b) }
                        } else {
                            for b in 0..<blocksPerRow { B.decode(src + b * blockBytes, dst + b * blockSize) }
                        }
                    }
                    multiplyGroup(x: x, w: UnsafeRawPointer(buf), rows: j1 - j0, out: out + j0, n: n, k: k, m: m)
                }
            }
        }
    }

    /// out[i, j] = Σ w[j]·x[i] for the weight rows `rows` and the n (< `fusedBelow`) activation
    /// rows, each a row dot straight off the stored blocks. One function per type with the row dot
    /// inlined, so its constants are set up once per range, not once per row (short rows, such as
    /// SmolLM2's 18 blocks, paid for that).
    @inline(never)
    static func dotRows<B: SIMDBlockDecoder>(_: B.Type, _ w: UnsafeRawPointer, rows: Range<Int>, x: UnsafePointer<Float>,
                                             out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let blocks = k / B.dtype.blockSize, rowBytes = blocks * B.dtype.blockBytes
        for j in rows {
            // The row `prefetchRows` ahead, line by line: the hardware prefetcher stops at every
            // 4 KiB page of the mapped file, and each stop stalled the dot products.
            if j + prefetchRows < rows.upperBound { Kernels.prefetchLines(w + (j + prefetchRows) * rowBytes, bytes: rowBytes) }
            for i in 0..<n { out[i * m + j] = B.dot(w + j * rowBytes, x + i * k, blocks: blocks) }
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
