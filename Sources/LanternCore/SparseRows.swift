/// The positive entries of each row of a matrix, in index order: how an SAE's or transcoder's
/// activations come back from a device, where a row of 16 384 latents holds a few dozen that fire.
public struct SparseRows: Sendable, Equatable {
    /// The dense rows' width.
    public let width: Int
    /// Row r's entries are `indices[starts[r] ..< starts[r + 1]]` and the same range of `values`.
    public private(set) var starts: [Int] = [0]
    public private(set) var indices: [Int32] = []
    public private(set) var values: [Float] = []

    public init(width: Int) { self.width = width }

    public var rowCount: Int { starts.count - 1 }

    /// Appends a row from (index, value) pairs in increasing index order.
    public mutating func append<S: Sequence>(row entries: S) where S.Element == (Int32, Float) {
        for (i, v) in entries {
            indices.append(i)
            values.append(v)
        }
        starts.append(indices.count)
    }

    /// Appends the positive entries of a dense row.
    public mutating func append(dense row: UnsafeBufferPointer<Float>) {
        for (i, v) in row.enumerated() where v > 0 {
            indices.append(Int32(i))
            values.append(v)
        }
        starts.append(indices.count)
    }

    /// Row r's entries as (index, value).
    public func row(_ r: Int) -> Zip2Sequence<ArraySlice<Int32>, ArraySlice<Float>> {
        zip(indices[starts[r]..<starts[r + 1]], values[starts[r]..<starts[r + 1]])
    }

    /// How many entries row r holds (its L0).
    public func count(_ r: Int) -> Int { starts[r + 1] - starts[r] }

    /// The dense rows [rowCount, width], zero where no entry is held.
    public func dense() -> [Float] {
        var out = [Float](repeating: 0, count: rowCount * width)
        for r in 0..<rowCount {
            for (i, v) in row(r) { out[r * width + Int(i)] = v }
        }
        return out
    }

    /// The positive entries of dense rows [n, width] on the host.
    public static func of(_ dense: UnsafeBufferPointer<Float>, width: Int) -> SparseRows {
        var out = SparseRows(width: width)
        guard width > 0 else { return out }
        for r in 0..<(dense.count / width) {
            out.append(dense: UnsafeBufferPointer(rebasing: dense[(r * width)..<((r + 1) * width)]))
        }
        return out
    }
}

extension Backend {
    /// The host's way: the rows read whole and compacted.
    public func hostPositiveEntries(_ x: Tensor) throws -> SparseRows {
        try withValues(x) { SparseRows.of($0, width: x.width) }
    }
}
