import Foundation
import LanternCore

/// Attention for many query rows (prefill): per kv head and block of up to `queryBlock` queries,
/// with the query heads that share the kv head stacked as rows, the scores are one GEMM (Q·Kᵀ,
/// through the packed matmul), the softmax runs row by row as in
/// `AttentionKernel`, and the output is a second GEMM (P·V). `AttentionKernel` takes a dot product
/// per (query, key) and was 17% of a 512-token prefill; the GEMMs run at the matmul's rate. The
/// weight panels of both GEMMs are filled straight from the K and V caches (K's rows as they are,
/// V's rows being already k-major), so neither is copied or transposed first. Each block's GEMMs
/// stop at its last query's key: over 512 queries, blocks of 128 do 1.25× the causal triangle's
/// work, blocks of 256 1.5× (blocks of 64, 1.125×, measured no faster: K's panels are filled
/// per block). Same causal window, scale, soft-cap and pattern; each score and output is an f32
/// sum over the same terms in another order.
enum BlockedAttention {
    /// Query rows per block.
    static let queryBlock = 128
    /// Fewer query rows than this take `AttentionKernel` (decode, short prompts).
    static let fromRows = 16

    static func run(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                    out: UnsafeMutablePointer<Float>, pattern: UnsafeMutablePointer<Float>?,
                    n: Int, queryStart: Int, keyCount: Int, p: AttentionParams) {
        let d = p.headDim, qw = p.heads * d, kw = p.kvHeads * d, group = p.heads / p.kvHeads
        // The query heads that share a kv head are stacked as rows of one GEMM: K's and V's panels
        // are filled once per block for all of them, not once per query head.
        let stackMax = group * min(n, queryBlock)
        let qh = UnsafeMutablePointer<Float>.allocate(capacity: stackMax * d)
        let oh = UnsafeMutablePointer<Float>.allocate(capacity: stackMax * d)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: stackMax * keyCount)
        defer { for buffer in [qh, oh, scores] { buffer.deallocate() } }
        let nr = PackedMatmul.nr

        for kvh in 0..<p.kvHeads {
            let caches = UncheckedBox((k + kvh * d, v + kvh * d))
            let heads = (kvh * group)..<((kvh + 1) * group)
            var i0 = 0
            while i0 < n {
                let rows = min(queryBlock, n - i0), stacked = group * rows
                // Keys this block can see: up to its last query's position.
                let keys = min(keyCount, queryStart + i0 + rows)
                for (g, h) in heads.enumerated() {
                    for i in 0..<rows { (qh + (g * rows + i) * d).update(from: q + (i0 + i) * qw + h * d, count: d) }
                }
                // Stacked row r is query i0 + r % rows: it sees keys up to its position (the
                // softmax reads no score past that, and leaves zeros there for P·V).
                let firstQuery = queryStart + i0
                let seen: (Int) -> Int = { r in min(keys, firstQuery + r % rows + 1) }
                // Scores: the weight's rows are keys j0..<j0+cols, each d floats of K's row j.
                PackedMatmul.run(x: qh, out: scores, n: stacked, k: d, m: keys, limits: (.columns, seen)) { panel, j0, cols, k0, depth in
                    PackedMatmul.fillPanel(F32Load.self, UnsafeRawPointer(caches.value.0), rowBytes: kw * 4,
                                           firstRow: j0, rows: cols, k0: k0, depth: depth, panel)
                }
                for g in 0..<group {
                    softmax(scores + g * rows * keys, rows: rows, keys: keys, firstPosition: queryStart + i0, p: p)
                }
                // Output: the weight's rows are head dimensions; V's row (key) k0 + t holds them in order.
                PackedMatmul.run(x: scores, out: oh, n: stacked, k: keys, m: d, limits: (.terms, seen)) { panel, j0, cols, k0, depth in
                    for t in 0..<depth {
                        let row = panel + t * nr
                        row.update(from: caches.value.1 + (k0 + t) * kw + j0, count: cols)
                        if cols < nr { (row + cols).update(repeating: 0, count: nr - cols) }
                    }
                }
                for (g, h) in heads.enumerated() {
                    for i in 0..<rows { (out + (i0 + i) * qw + h * d).update(from: oh + (g * rows + i) * d, count: d) }
                    if let pattern {
                        for i in 0..<rows {
                            let row = pattern + (h * n + i0 + i) * keyCount
                            row.update(from: scores + (g * rows + i) * keys, count: keys)
                            (row + keys).update(repeating: 0, count: keyCount - keys)
                        }
                    }
                }
                i0 += rows
            }
        }
    }

    /// Each row i (position firstPosition + i) of `scores` [rows, keys]: scaled, soft-capped, then
    /// the softmax over the keys it may see (zero elsewhere).
    static func softmax(_ scores: UnsafeMutablePointer<Float>, rows: Int, keys: Int, firstPosition: Int, p: AttentionParams) {
        let args = UncheckedBox(scores)
        Parallel.forRanges(rows) { range in
            for i in range {
                let s = args.value + i * keys
                let pos = firstPosition + i
                let hi = min(pos, keys - 1)
                let lo = p.window.map { max(0, pos - $0 + 1) } ?? 0
                var mx = -Float.infinity
                if lo <= hi {
                    for j in lo...hi {
                        var x = s[j] * p.scale
                        if let cap = p.softcap { x = cap * tanh(x / cap) }
                        s[j] = x
                        mx = max(mx, x)
                    }
                    let total = AttentionKernel.exponentiate(s + lo, count: hi - lo + 1, minus: mx)
                    let inv = total > 0 ? 1 / total : 0
                    for j in lo...hi { s[j] *= inv }
                }
                if lo > 0 { s.update(repeating: 0, count: min(lo, keys)) }
                if hi + 1 < keys { (s + hi + 1).update(repeating: 0, count: keys - hi - 1) }
            }
        }
    }
}
