import LanternCore

extension VulkanBackend {
    public func embed(_ tokens: [Int32], table: Tensor, scale: Float) throws -> Tensor {
        guard table.rank == 2 else { throw LanternError.shapeMismatch(op: "embed", detail: "table \(table.shape) is not a matrix") }
        let vocab = table.shape[0], width = table.shape[1]
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw LanternError.invalidArgument("token id \(bad) is out of range: the vocabulary has \(vocab) tokens (0..<\(vocab))")
        }
        let (dtype, variant) = try Self.weightKind(table, rowLength: width, "embed")
        let out = try f32Tensor([tokens.count, width])
        if out.count == 0 { return out }
        let ids = try newStorage(bytes: tokens.count * 4)
        try tokens.map(UInt32.init).withUnsafeBytes { try upload(ids, $0) }
        let parts = try weightParts(table)
        // A table split across buffers: one dispatch per part, each writing the rows of its tokens.
        for part in parts where part.rows > 0 {
            try dispatch(.embed, variant: variant, spec: [dtype, UInt32(Self.elementwiseGroup)],
                         buffers: [ids, part.storage, try out.vulkanStorage(device)],
                         push: [UInt32(out.count), UInt32(width), part.offset, 0, scale.bitPattern, UInt32(part.firstRow), UInt32(part.rows)],
                         groups: Self.grid(out.count, Self.elementwiseGroup))
        }
        return out
    }
}
