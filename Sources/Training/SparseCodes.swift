import CPUKernelChoice
import LanternCore

/// The CPU kernels' multiply-adds for the sparse products (built for this CPU's vector unit).
let vectorMath = KernelChoice.selected

/// Latent activations with few non-zeros per row, in compressed-row form: row i's entries are
/// `latents[offsets[i] ..< offsets[i+1]]` with `values` beside them. The products of a sparse
/// SAE step (decoding, the decoder's and the encoder's weight gradients) cost rows × k × d_in
/// this way, instead of rows × d_sae × d_in as dense matmuls.
struct SparseCodes: Sendable {
    let rows: Int
    let width: Int
    var offsets: [Int]
    var latents: [Int32]
    var values: [Float]

    var count: Int { latents.count }

    /// Rows of Σ_entries value · matrix[latent] for matrix [width, d], plus `bias` when given.
    func decode(_ matrix: [Float], d: Int, bias: [Float]? = nil) -> [Float] {
        var out = [Float](repeating: 0, count: rows * d)
        out.withUnsafeMutableBufferPointer { o in
            let out = SharedBuffer(pointer: o.baseAddress!)
            Parallel.forRanges(rows) { range in
                matrix.withUnsafeBufferPointer { m in
                    for i in range {
                        let row = out.pointer + i * d
                        if let bias { for c in 0..<d { row[c] = bias[c] } }
                        for e in offsets[i]..<offsets[i + 1] {
                            vectorMath.axpy(row, values[e], m.baseAddress! + Int(latents[e]) * d, count: d)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Adds Σ_entries value · matrix[latent] into each row of `out` [rows, d].
    func decode(_ matrix: [Float], d: Int, adding out: inout [Float]) {
        out.withUnsafeMutableBufferPointer { o in
            let out = SharedBuffer(pointer: o.baseAddress!)
            Parallel.forRanges(rows) { range in
                matrix.withUnsafeBufferPointer { m in
                    for i in range {
                        for e in offsets[i]..<offsets[i + 1] {
                            vectorMath.axpy(out.pointer + i * d, values[e], m.baseAddress! + Int(latents[e]) * d, count: d)
                        }
                    }
                }
            }
        }
    }

    /// For each entry (i, j): rowsMatrix[i] · matrix[j] (the gradient at the support).
    func dotsAtSupport(_ rowsMatrix: [Float], _ matrix: [Float], d: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { o in
            let out = SharedBuffer(pointer: o.baseAddress!)
            Parallel.forRanges(rows) { range in
                rowsMatrix.withUnsafeBufferPointer { r in
                    matrix.withUnsafeBufferPointer { m in
                        for i in range {
                            let x = r.baseAddress! + i * d
                            for e in offsets[i]..<offsets[i + 1] {
                                out.pointer[e] = vectorMath.dot(x, m.baseAddress! + Int(latents[e]) * d, count: d)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Adds Σ_i coefficients[e] · rowsMatrix[i] into each latent's row of `out` [width, d]
    /// (weight gradients). Entries are grouped by latent first, so latents run in parallel.
    func accumulateByLatent(_ coefficients: [Float], _ rowsMatrix: [Float], d: Int, into out: inout [Float]) {
        var starts = [Int](repeating: 0, count: width + 1)
        for j in latents { starts[Int(j) + 1] += 1 }
        for j in 0..<width { starts[j + 1] += starts[j] }
        var fill = starts, entryRow = [Int32](repeating: 0, count: count), entryValue = [Float](repeating: 0, count: count)
        for i in 0..<rows {
            for e in offsets[i]..<offsets[i + 1] {
                let j = Int(latents[e])
                entryRow[fill[j]] = Int32(i)
                entryValue[fill[j]] = coefficients[e]
                fill[j] += 1
            }
        }
        let (groupStarts, rowsOfEntries, valuesOfEntries) = (starts, entryRow, entryValue)
        out.withUnsafeMutableBufferPointer { o in
            let out = SharedBuffer(pointer: o.baseAddress!)
            Parallel.forRanges(width) { range in
                rowsMatrix.withUnsafeBufferPointer { r in
                    for j in range {
                        let w = out.pointer + j * d
                        for e in groupStarts[j]..<groupStarts[j + 1] {
                            vectorMath.axpy(w, valuesOfEntries[e], r.baseAddress! + Int(rowsOfEntries[e]) * d, count: d)
                        }
                    }
                }
            }
        }
    }

    /// Σ per latent of `coefficients` (bias gradients).
    func sumByLatent(_ coefficients: [Float]) -> [Float] {
        var sums = [Float](repeating: 0, count: width)
        for e in 0..<count { sums[Int(latents[e])] += coefficients[e] }
        return sums
    }

    /// Active entries of each row: the k largest (TopK; among `allowed` latents) that are
    /// positive, or (k nil) every entry above its latent's threshold (ReLU: zeros; JumpReLU: θ).
    static func select(_ pre: [Float], rows n: Int, width s: Int, k: Int?, allowed: [Bool]? = nil,
                       thresholds: [Float]? = nil) -> SparseCodes {
        let thresholds = thresholds ?? [Float](repeating: 0, count: s)
        let candidates = allowed.map { mask in (0..<s).filter { mask[$0] } } ?? Array(0..<s)
        var perRow = [[(Int32, Float)]](repeating: [], count: n)
        perRow.withUnsafeMutableBufferPointer { rowsBuffer in
            let out = SharedBuffer(pointer: rowsBuffer.baseAddress!)
            Parallel.forRanges(n) { range in
                pre.withUnsafeBufferPointer { p in
                    for i in range {
                        let row = p.baseAddress! + i * s
                        var entries: [(Int32, Float)] = []
                        if let k, allowed == nil, k <= 32 {
                            for j in topIndices(row, count: s, k: k).sorted() where row[j] > 0 { entries.append((Int32(j), row[j])) }
                        } else if let k {
                            // Only positive values can survive the ReLU: gather those, then select.
                            var values: [Float] = [], indices: [Int32] = []
                            for j in candidates where row[j] > 0 { values.append(row[j]); indices.append(Int32(j)) }
                            let kept = largestFirst(&values, &indices, k: k)
                            for e in (0..<kept).sorted(by: { indices[$0] < indices[$1] }) { entries.append((indices[e], values[e])) }
                        } else {
                            thresholds.withUnsafeBufferPointer { t in
                                for j in 0..<s where row[j] > t[j] { entries.append((Int32(j), row[j])) }
                            }
                        }
                        out.pointer[i] = entries
                    }
                }
            }
        }
        var codes = SparseCodes(rows: n, width: s, offsets: [0], latents: [], values: [])
        for entries in perRow {
            for (j, v) in entries { codes.latents.append(j); codes.values.append(v) }
            codes.offsets.append(codes.latents.count)
        }
        return codes
    }
}

/// Moves the k largest values (with their indices) to the front, in no particular order, by
/// quickselect (linear on average); returns how many there are (k, or fewer when fewer values).
func largestFirst(_ values: inout [Float], _ indices: inout [Int32], k: Int) -> Int {
    let n = values.count
    guard k < n else { return n }
    var lo = 0, hi = n - 1
    while lo < hi {
        let pivot = values[(lo + hi) / 2]
        var i = lo, j = hi
        while i <= j {
            while values[i] > pivot { i += 1 }
            while values[j] < pivot { j -= 1 }
            if i <= j {
                values.swapAt(i, j)
                indices.swapAt(i, j)
                i += 1
                j -= 1
            }
        }
        // Now [lo, j] ≥ pivot ≥ [i, hi]; keep narrowing the side that holds position k.
        if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { break }
    }
    return k
}
