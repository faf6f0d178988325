import LanternCore

extension VulkanBackend {
    /// Invocations per (query, head) workgroup; with 16 output dims each this covers heads up to 512 wide.
    static let attentionGroup = 64
    static let attentionMaxHeadDim = 512

    public func attention(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, keyCount: Int,
                          params p: AttentionParams, wantPattern: Bool) throws -> (out: Tensor, pattern: Tensor?) {
        let n = q.rowCount
        try p.checkShapes(q: q, k: k, v: v, queryStart: queryStart, keyCount: keyCount)
        guard p.headDim <= Self.attentionMaxHeadDim else {
            throw LanternError.unsupported("attention with head_dim \(p.headDim) on the Vulkan backend (at most \(Self.attentionMaxHeadDim))")
        }
        try requireF32("attention", q, k, v)
        let out = try f32Tensor([n, q.width])
        let pattern = wantPattern ? try f32Tensor([p.heads, n, keyCount]) : nil
        if n == 0 { return (out, pattern) }
        let outStorage = try out.vulkanStorage(device)
        try dispatch(.attention, variant: subgroupVariant(nil), spec: [UInt32(Self.attentionGroup)],
                     buffers: [try q.vulkanStorage(device), try k.vulkanStorage(device), try v.vulkanStorage(device),
                               outStorage, try pattern?.vulkanStorage(device) ?? outStorage],
                     push: [UInt32(n), UInt32(keyCount), UInt32(queryStart), UInt32(p.heads), UInt32(p.kvHeads),
                            UInt32(p.headDim), UInt32(p.window ?? 0), wantPattern ? 1 : 0,
                            try q.elementOffset, try k.elementOffset, try v.elementOffset, 0, 0,
                            p.scale.bitPattern, (p.softcap ?? 0).bitPattern],
                     groups: (n, p.heads, 1))
        return (out, pattern)
    }

    /// Sequences packed as rows: one dispatch over every row and head, each row's sequence start
    /// uploaded beside it (the `packed` build of the same shader).
    public func attention(q: Tensor, k: Tensor, v: Tensor, segments: [Range<Int>], params p: AttentionParams) throws -> Tensor {
        try p.checkPackedShapes(q: q, k: k, v: v, segments: segments)
        guard p.headDim <= Self.attentionMaxHeadDim else {
            throw LanternError.unsupported("attention with head_dim \(p.headDim) on the Vulkan backend (at most \(Self.attentionMaxHeadDim))")
        }
        try requireF32("attention", q, k, v)
        let n = q.rowCount
        let out = try f32Tensor([n, q.width])
        let starts = try rowIndexBuffer(PackedSequences.rowStarts(segments))
        try dispatch(.attention, variant: subgroupVariant("packed"), spec: [UInt32(Self.attentionGroup)],
                     buffers: [try q.vulkanStorage(device), try k.vulkanStorage(device), try v.vulkanStorage(device),
                               try out.vulkanStorage(device), starts],
                     push: [UInt32(n), UInt32(n), 0, UInt32(p.heads), UInt32(p.kvHeads),
                            UInt32(p.headDim), UInt32(p.window ?? 0), 0,
                            try q.elementOffset, try k.elementOffset, try v.elementOffset, 0, 0,
                            p.scale.bitPattern, (p.softcap ?? 0).bitPattern],
                     groups: (n, p.heads, 1))
        return out
    }
}
