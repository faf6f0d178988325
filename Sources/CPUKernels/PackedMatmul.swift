import CIntrinsics
import LanternCore

/// The prefill matmul (many activation rows): out[n, m] = x[n, k] · w[m, k]ᵀ as a packed GEMM in
/// the BLIS style. Weights are widened to f32 one panel at a time (`nr` rows × `kc` columns,
/// stored k-major), activations are packed once into 6-row tiles, and a 6 × `nr` register tile
/// does pure broadcast-and-FMA work: no conversions or horizontal sums in the inner loop. The
/// widened panel (16 or 32 KiB) lives in L1 while every activation tile passes over it, so the cost
/// of widening bf16/f16 is paid once per weight per call, not once per row.
///
/// The tile is two `PanelVector`s wide: 8 lanes (AVX2: 12 accumulators in 16 ymm registers), or 16
/// lanes in the AVX-512 build of this module (`LANTERN_AVX512`, see `KernelSet`): the same 12
/// accumulators in zmm registers, twice the FLOPs per instruction. Each output is the same
/// k-ordered sum of f32 products either way.
enum PackedMatmul {
    #if LANTERN_AVX512
    typealias PanelVector = SIMD16<Float>
    #else
    typealias PanelVector = SIMD8<Float>
    #endif
    static let mr = 6
    static let nr = 2 * PanelVector.scalarCount
    static let kc = 256
    /// Weight rows per task, at most: 8 panels, so one task's widened weights stay in L2.
    static let nc = nr * 8

    /// Weight rows per task for an m-row weight: `nc`, or fewer panels when m is small enough that
    /// `nc` would leave cores idle (640 rows in tasks of 256 are three tasks for two cores: a
    /// third of the time on one core). Aims for at least two tasks per core, whole panels each.
    static func taskRows(_ m: Int) -> Int {
        let panels = (m + nr - 1) / nr
        let perTask = (panels + 2 * Parallel.cores - 1) / (2 * Parallel.cores)
        return nr * max(1, min(nc / nr, perTask))
    }

    static func run<W: WeightLoad>(_: W.Type, x: UnsafePointer<Float>, w: UnsafeRawPointer,
                                   out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let rowBytes = k * W.elementBytes
        let weights = UncheckedBox(w)
        run(x: x, out: out, n: n, k: k, m: m) { panel, j0, cols, k0, depth in
            fillPanel(W.self, weights.value, rowBytes: rowBytes, firstRow: j0, rows: cols, k0: k0, depth: depth, panel)
        }
    }

    /// `panel[kk · nr + c]` = row firstRow + c of w (rows `rowBytes` apart), element k0 + kk, widened;
    /// 0 for c from `rows` on.
    @inline(__always)
    static func fillPanel<W: WeightLoad>(_: W.Type, _ w: UnsafeRawPointer, rowBytes: Int, firstRow: Int, rows: Int,
                                         k0: Int, depth: Int, _ panel: UnsafeMutablePointer<Float>) {
        #if LANTERN_AVX512
        if depth >= 16 {
            fillTransposed(W.self, w, rowBytes: rowBytes, firstRow: firstRow, rows: rows, k0: k0, depth: depth, panel)
            return
        }
        #endif
        for c in 0..<nr {
            if c < rows {
                widenRow(W.self, w + (firstRow + c) * rowBytes + k0 * W.elementBytes, k: depth, panel + c, nr)
            } else {
                for kk in 0..<depth { panel[kk * nr + c] = 0 }
            }
        }
    }

    #if LANTERN_AVX512
    /// One panel's k slice, 16 columns at a time: 16 rows widened side by side (in order, eight
    /// floats per store), then put into the k-major panel by 16 × 16 transposes; a last partial
    /// group of 16 k positions one float at a time. Rows from `rows` on are zero. Widening into the
    /// column one store per float had held bf16 products to 0.65–0.79× OpenBLAS.
    @inline(__always)
    static func fillTransposed<W: WeightLoad>(_: W.Type, _ w: UnsafeRawPointer, rowBytes: Int, firstRow: Int, rows: Int,
                                              k0: Int, depth: Int, _ panel: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * kc) { buffer in
            let rows16 = buffer.baseAddress!
            for c0 in stride(from: 0, to: nr, by: 16) {
                for r in 0..<16 {
                    let row = rows16 + r * depth
                    guard c0 + r < rows else { row.update(repeating: 0, count: depth); continue }
                    let src = w + (firstRow + c0 + r) * rowBytes + k0 * W.elementBytes
                    var kk = 0
                    while kk + 8 <= depth {
                        UnsafeMutableRawPointer(row + kk).storeBytes(of: W.load8(src, kk), as: SIMD8<Float>.self)
                        kk += 8
                    }
                    while kk < depth { row[kk] = W.load1(src, kk); kk += 1 }
                }
                transposeRows16(rows16, depth: depth, into: panel + c0)
            }
        }
    }

    /// `rows16` ([16][depth], row-major) into 16 panel columns starting at `columns`:
    /// columns[kk · nr + r] = rows16[r · depth + kk]; 16 × 16 transposes, the last partial group
    /// of 16 k positions one float at a time.
    @inline(__always)
    static func transposeRows16(_ rows16: UnsafePointer<Float>, depth: Int, into columns: UnsafeMutablePointer<Float>) {
        let whole = depth / 16 * 16
        for kk in stride(from: 0, to: whole, by: 16) {
            lantern_transpose16x16(rows16 + kk, depth, columns + kk * nr, nr)
        }
        for kk in whole..<depth {
            for r in 0..<16 { columns[kk * nr + r] = rows16[r * depth + kk] }
        }
    }
    #endif

    /// What a row's limit L(r) tells the product (causal attention): that row r's outputs from
    /// column L(r) on are not wanted (they are left unwritten), or that its terms from k = L(r)
    /// on are zero (its sums stop there, having added only zeros past it).
    enum RowLimit {
        case columns
        case terms
    }

    /// The packed product with the weights' panels made by `fill(panel, j0, cols, k0, depth)`:
    /// `panel[kk · nr + c]` = w[j0 + c][k0 + kk] for c < cols, 0 for the rest of the nr columns.
    /// Each task fills its panels for one k slice, then runs every activation tile past them.
    /// With `limits`, a tile of rows stops at the largest of its rows' limits: a causal block's
    /// scores skip the panels of keys no row of the tile sees, its outputs the keys' zero terms.
    static func run(x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int,
                    limits: (RowLimit, (Int) -> Int)? = nil,
                    fill: @escaping @Sendable (_ panel: UnsafeMutablePointer<Float>, _ j0: Int, _ cols: Int, _ k0: Int, _ depth: Int) -> Void) {
        let tiles = (n + mr - 1) / mr
        let packedX = packActivations(x, n: n, k: k)
        defer { packedX.deallocate() }
        // Each tile's limit: the most of its rows' (read only when there are limits).
        let tileLimit = limits.map { (_, limit) in
            (0..<tiles).map { t in (t * mr..<min(n, t * mr + mr)).map(limit).max()! }
        } ?? []
        let limitsColumns = limits?.0 == .columns, limitsTerms = limits?.0 == .terms

        let nc = taskRows(m)
        let tasks = (m + nc - 1) / nc
        let args = UncheckedBox((packedX, out, tileLimit))
        Parallel.forEach(tasks) { task in
            let (packedX, out, tileLimit) = args.value
            let j0 = task * nc, j1 = min(m, j0 + nc)
            let panels = (j1 - j0 + nr - 1) / nr
            let packedW = UnsafeMutablePointer<Float>.allocate(capacity: panels * kc * nr)
            defer { packedW.deallocate() }
            var k0 = 0
            while k0 < k {
                let depth = min(kc, k - k0)
                for p in 0..<panels {
                    fill(packedW + p * kc * nr, j0 + p * nr, min(nr, j1 - j0 - p * nr), k0, depth)
                }
                // Panel outer, activation tiles inner: the panel (kc × nr floats) stays in L1 while the
                // small activation tiles stream past it from L2.
                for p in 0..<panels {
                    let cols = min(nr, j1 - j0 - p * nr), panel = packedW + p * kc * nr
                    for t in 0..<tiles {
                        if limitsColumns, j0 + p * nr >= tileLimit[t] { continue }
                        // Past the limit only zero terms: the first slice still stores (zeros if nothing is left).
                        let terms = limitsTerms ? max(0, min(depth, tileLimit[t] - k0)) : depth
                        if terms == 0, k0 > 0 { continue }
                        let a = packedX + t * k * mr + k0 * mr
                        tile(a, panel, terms, out + t * mr * m + j0 + p * nr, m, min(mr, n - t * mr), cols, k0 == 0)
                    }
                }
                k0 += depth
            }
        }
    }

    /// The same product on weights widened once (`widen`): no widening in the call, only
    /// the register tile over each panel's k slices, which stay in L1 while the activation tiles
    /// stream past. The same k-ordered sums as `run`.
    static func run(panels: UnsafePointer<Float>, m: Int, k: Int, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, n: Int) {
        let tiles = (n + mr - 1) / mr
        let panelCount = panelCount(m: m)
        let packedX = packActivations(x, n: n, k: k)
        defer { packedX.deallocate() }
        let panelsPerTask = taskRows(m) / nr
        let tasks = (panelCount + panelsPerTask - 1) / panelsPerTask
        let args = UncheckedBox((packedX, panels, out))
        Parallel.forEach(tasks) { task in
            let (packedX, panels, out) = args.value
            let lastPanel = min(panelCount, (task + 1) * panelsPerTask) - 1
            for p in (task * panelsPerTask)...lastPanel {
                let cols = min(nr, m - p * nr), panel = panels + p * k * nr
                var k0 = 0
                while k0 < k {
                    let depth = min(kc, k - k0)
                    // The next k slice (or the next panel's first: panels are consecutive) comes from
                    // memory while this one is in L1: its lines are asked for a share per tile, so the
                    // first tile over it does not wait on memory line by line.
                    let nextBytes = p == lastPanel && k0 + depth >= k ? 0 : min(kc, k0 + depth >= k ? k : k - k0 - depth) * nr * 4
                    let next = UnsafeRawPointer(panel + (k0 + depth) * nr)
                    let linesPerTile = (nextBytes / 64 + tiles - 1) / tiles
                    for t in 0..<tiles {
                        let first = t * linesPerTile
                        QuantPackedMatmul.tile(packedX + t * k * mr + k0 * mr, panel + k0 * nr, depth,
                                               out + t * mr * m + p * nr, m, min(mr, n - t * mr), cols, k0 == 0,
                                               ahead: next + 64 * first, lines: max(0, min(linesPerTile, nextBytes / 64 - first)))
                    }
                    k0 += depth
                }
            }
        }
    }

    /// Widens row `row` (k elements of W) down a panel column, element kk at column[kk · stride].
    static func widenRow<W: WeightLoad>(_: W.Type, _ row: UnsafeRawPointer, k: Int,
                                        _ column: UnsafeMutablePointer<Float>, _ stride: Int) {
        var kk = 0
        while kk + 8 <= k {
            let v = W.load8(row, kk)
            for t in 0..<8 { column[(kk + t) * stride] = v[t] }
            kk += 8
        }
        while kk < k { column[kk * stride] = W.load1(row, kk); kk += 1 }
    }

    /// 6 rows × `nr` columns: 12 accumulators, two weight vectors, one broadcast. A last tile of
    /// one to four rows takes the kernel for 2 or 4 rows, which does only their FMAs (128 rows are
    /// 21 tiles and 2 rows: a full kernel there spent 3% of the product on zeros). With `ahead`,
    /// also asks for `lines` cache lines from there into L2, spread evenly over the k steps (one
    /// per 8 steps when there are few): in a burst, prefetches wait for free fill buffers.
    @inline(__always)
    static func tile(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ depth: Int,
                     _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _ rows: Int, _ cols: Int, _ first: Bool,
                     ahead: UnsafeRawPointer? = nil, lines: Int = 0) {
        if rows > 4 {
            tile(SixRows.self, a, b, depth, out, ldo, rows, cols, first, ahead: ahead, lines: lines)
        } else if rows > 2 {
            tile(FourRows.self, a, b, depth, out, ldo, rows, cols, first, ahead: ahead, lines: lines)
        } else {
            tile(TwoRows.self, a, b, depth, out, ldo, rows, cols, first, ahead: ahead, lines: lines)
        }
    }

    /// The register tile for the first `R.count` rows of a packed activation tile (always `mr`
    /// rows apart in k): specialised per R, the rows past it and their accumulators drop out.
    @inline(__always)
    private static func tile<R: TileRows>(_: R.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ depth: Int,
                                          _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _ rows: Int, _ cols: Int, _ first: Bool,
                                          ahead: UnsafeRawPointer?, lines: Int) {
        typealias V = PanelVector
        let half = MemoryLayout<V>.size
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var ap = a, bp = UnsafeRawPointer(b)
        let perChunk = (lines + (depth + 7) / 8 - 1) / max(1, (depth + 7) / 8)
        var line = 0, kk = 0
        while kk < depth {
            let steps = min(8, depth - kk)
            kk += steps
            if line < lines, let ahead {
                for l in line..<min(lines, line + perChunk) { lantern_prefetch_l2(ahead + 64 * l) }
                line += perChunk
            }
            for _ in 0..<steps {
                let b0 = bp.loadUnaligned(as: V.self), b1 = bp.loadUnaligned(fromByteOffset: half, as: V.self)
                var s = V(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
                s = V(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
                if R.count > 2 {
                    s = V(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
                    s = V(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
                }
                if R.count > 4 {
                    s = V(repeating: ap[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
                    s = V(repeating: ap[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
                }
                ap += mr
                bp += 2 * half
            }
        }
        store(out, c00, c01, cols, first)
        if rows > 1 { store(out + ldo, c10, c11, cols, first) }
        if R.count > 2, rows > 2 { store(out + 2 * ldo, c20, c21, cols, first) }
        if R.count > 2, rows > 3 { store(out + 3 * ldo, c30, c31, cols, first) }
        if R.count > 4, rows > 4 { store(out + 4 * ldo, c40, c41, cols, first) }
        if R.count > 4, rows > 5 { store(out + 5 * ldo, c50, c51, cols, first) }
    }

    /// Writes (first k slice) or adds one row of a tile, clipped to `cols`.
    @inline(__always)
    static func store(_ o: UnsafeMutablePointer<Float>, _ lo: PanelVector, _ hi: PanelVector, _ cols: Int, _ first: Bool) {
        typealias V = PanelVector
        let lanes = V.scalarCount, half = MemoryLayout<V>.size
        if cols == nr {
            let raw = UnsafeMutableRawPointer(o)
            if first {
                raw.storeBytes(of: lo, as: V.self)
                raw.storeBytes(of: hi, toByteOffset: half, as: V.self)
            } else {
                raw.storeBytes(of: raw.loadUnaligned(as: V.self) + lo, as: V.self)
                raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: half, as: V.self) + hi, toByteOffset: half, as: V.self)
            }
        } else {
            for c in 0..<cols {
                let v = c < lanes ? lo[c] : hi[c - lanes]
                o[c] = first ? v : o[c] + v
            }
        }
    }
}

/// Rows of a register tile, as a type: `PackedMatmul.tile` is specialised per count.
protocol TileRows { static var count: Int { get } }
enum TwoRows: TileRows { static var count: Int { 2 } }
enum FourRows: TileRows { static var count: Int { 4 } }
enum SixRows: TileRows { static var count: Int { 6 } }
