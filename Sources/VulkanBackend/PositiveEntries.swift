import LanternCore

extension VulkanBackend {
    /// Rows compacted on the device (positive_entries.comp): `expected` (index, value) pairs and a
    /// count per row come back instead of the row; a row with more entries than that is read whole.
    public func positiveEntries(_ x: Tensor, expected: Int) throws -> SparseRows {
        try requireF32("positiveEntries", x)
        let rows = x.rowCount, width = x.width
        var out = SparseRows(width: width)
        if rows == 0 || width == 0 { return try hostPositiveEntries(x) }
        let limit = min(max(expected, 1), width), stride = 1 + 2 * limit
        let compact = try f32Tensor([rows, stride])
        try dispatch(.positiveEntries, buffers: [try x.vulkanStorage(device), try compact.vulkanStorage(device)],
                     push: [UInt32(rows), UInt32(width), try x.elementOffset, UInt32(limit)], groups: Self.grid(rows, 1))
        let values = try read(compact)
        for r in 0..<rows {
            let count = Int(values[r * stride].bitPattern)
            if count > limit {
                let whole = try read(try x.rows(r..<(r + 1)))
                whole.withUnsafeBufferPointer { out.append(dense: $0) }
            } else {
                out.append(row: (0..<count).lazy.map { e in
                    (Int32(bitPattern: values[r * stride + 1 + 2 * e].bitPattern), values[r * stride + 2 + 2 * e])
                })
            }
        }
        return out
    }
}
