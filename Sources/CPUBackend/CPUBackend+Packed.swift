import LanternCore

/// The packed-sequence ops on the host: the same kernel calls as one `rope` or `attention` per
/// sequence (so the same values, bit for bit), each writing its rows of one output in place of a
/// tensor per sequence stacked afterwards.
extension CPUBackend {
    public func rope(_ x: Tensor, heads: Int, headDim: Int, segments: [Range<Int>], params: RopeParams) throws -> Tensor {
        try params.checkShape(x, heads: heads, headDim: headDim)
        try PackedSequences.check(segments, rows: x.rowCount, op: "rope")
        let out = make(x.shape)
        let (xp, op, width) = (try x.cpuFloats(), try out.cpuFloats(), x.width)
        for s in segments {
            kernels.rope(xp + s.lowerBound * width, op + s.lowerBound * width, rows: s.count, heads: heads, headDim: headDim,
                         start: 0, params: params)
        }
        return out
    }

    public func attention(q: Tensor, k: Tensor, v: Tensor, segments: [Range<Int>], params p: AttentionParams) throws -> Tensor {
        try p.checkPackedShapes(q: q, k: k, v: v, segments: segments)
        let out = make(q.shape)
        let (qp, kp, vp, op) = (try q.cpuFloats(), try k.cpuFloats(), try v.cpuFloats(), try out.cpuFloats())
        let (qWidth, kvWidth) = (q.width, k.width)
        for s in segments {
            let first = s.lowerBound
            kernels.attention(q: qp + first * qWidth, k: kp + first * kvWidth, v: vp + first * kvWidth, out: op + first * qWidth,
                              pattern: nil, n: s.count, queryStart: 0, keyCount: s.count, params: p)
        }
        return out
    }
}
