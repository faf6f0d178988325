/// Sequences packed as rows of one tensor, for the ops whose result depends on a row's position
/// in its own sequence (RoPE, causal attention): a batched forward pass runs each of them once
/// over every sequence instead of once per sequence, which on a GPU is the difference between a
/// handful of dispatches per layer and a handful per sequence per layer.
public enum PackedSequences {
    /// Checks that `segments` are non-empty, in order, contiguous from row 0 and cover `rows`.
    public static func check(_ segments: [Range<Int>], rows: Int, op: String) throws {
        var next = 0
        for (i, s) in segments.enumerated() {
            guard s.lowerBound == next, !s.isEmpty else {
                throw LanternError.shapeMismatch(op: op, detail: "segment \(i) is rows \(s), expected a non-empty range from row \(next)")
            }
            next = s.upperBound
        }
        guard next == rows else {
            throw LanternError.shapeMismatch(op: op, detail: "segments cover \(next) rows of \(rows)")
        }
    }

    /// Each row's position in its own sequence (row − its segment's first row).
    public static func positions(_ segments: [Range<Int>]) -> [Int32] {
        segments.flatMap { s in (0..<s.count).map(Int32.init) }
    }

    /// Each row's segment's first row.
    public static func rowStarts(_ segments: [Range<Int>]) -> [Int32] {
        segments.flatMap { s in [Int32](repeating: Int32(s.lowerBound), count: s.count) }
    }
}

extension Backend {
    public func rope(_ x: Tensor, heads: Int, headDim: Int, segments: [Range<Int>], params: RopeParams) throws -> Tensor {
        try PackedSequences.check(segments, rows: x.rowCount, op: "rope")
        if segments.count == 1 { return try rope(x, heads: heads, headDim: headDim, start: 0, params: params) }
        return try stackRows(try segments.map { try rope(try x.rows($0), heads: heads, headDim: headDim, start: 0, params: params) },
                             width: x.width)
    }

    public func attention(q: Tensor, k: Tensor, v: Tensor, segments: [Range<Int>], params: AttentionParams) throws -> Tensor {
        try params.checkPackedShapes(q: q, k: k, v: v, segments: segments)
        let parts = try segments.map {
            try attention(q: try q.rows($0), k: try k.rows($0), v: try v.rows($0), queryStart: 0, keyCount: $0.count,
                          params: params, wantPattern: false).out
        }
        return parts.count == 1 ? parts[0] : try stackRows(parts, width: q.width)
    }
}

extension AttentionParams {
    /// q, k and v hold the same packed rows, shaped for these heads, and `segments` cover them.
    public func checkPackedShapes(q: Tensor, k: Tensor, v: Tensor, segments: [Range<Int>]) throws {
        try checkShapes(q: q, k: k, v: v, queryStart: 0, keyCount: q.rowCount)
        guard k.rowCount == q.rowCount, v.rowCount == q.rowCount, !segments.isEmpty else {
            throw LanternError.shapeMismatch(op: "attention", detail: "packed q \(q.shape), k \(k.shape), v \(v.shape) in \(segments.count) segments")
        }
        try PackedSequences.check(segments, rows: q.rowCount, op: "attention")
    }
}
