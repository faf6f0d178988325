import LanternCore

extension VulkanBackend {
    /// The lens's row reductions on the device (logit_summary.comp): a row of 262 144 logits comes
    /// back as its max, two sums, topK (token, logit) pairs and the asked tokens' ranks.
    public func logitSummaries(_ logits: Tensor, topK: Int, tokens: [Int32]) throws -> [LogitRowSummary] {
        try checkLogitSummaries(logits, topK: topK, tokens: tokens)
        return try deviceLogitSummaries(logits, topK: topK, asked: tokens, perRow: false)
    }

    /// The same with row r asked for `rowTokens[r]`: a next-token loss comes back as three
    /// numbers and a rank per row.
    public func logitSummaries(_ logits: Tensor, topK: Int, rowTokens: [Int32]) throws -> [LogitRowSummary] {
        try checkLogitSummaries(logits, topK: topK, rowTokens: rowTokens)
        return try deviceLogitSummaries(logits, topK: topK, asked: rowTokens, perRow: true)
    }

    private func deviceLogitSummaries(_ logits: Tensor, topK: Int, asked tokens: [Int32], perRow: Bool) throws -> [LogitRowSummary] {
        try requireF32("logitSummaries", logits)
        let rows = logits.rowCount, vocab = logits.width
        if rows == 0 { return [] }
        let perRowCount = perRow ? 1 : tokens.count
        let stride = 3 + 2 * topK + 2 * perRowCount
        let out = try f32Tensor([rows, stride])
        let asked = try newStorage(bytes: max(4, tokens.count * 4))
        try tokens.map { UInt32($0) }.withUnsafeBytes { try upload(asked, $0) }
        try dispatch(.logitSummary, variant: subgroupVariant(nil), spec: [256],
                     buffers: [try logits.vulkanStorage(device), asked, try out.vulkanStorage(device)],
                     push: [UInt32(rows), UInt32(vocab), try logits.elementOffset, UInt32(topK), UInt32(perRowCount), perRow ? 1 : 0],
                     groups: Self.grid(rows, 1))
        let values = try read(out)
        return (0..<rows).map { r in
            let v = Array(values[(r * stride)..<((r + 1) * stride)])
            let statistics = LogitStatistics.Summary(max: v[0], sumExp: Double(v[1]), weighted: Double(v[2]))
            let top = (0..<topK).map { (Int32(bitPattern: v[3 + 2 * $0].bitPattern), v[4 + 2 * $0]) }
            let ranks = (0..<perRowCount).map { (Int(v[3 + 2 * topK + 2 * $0].bitPattern), v[4 + 2 * topK + 2 * $0]) }
            return LogitRowSummary(statistics: statistics, top: top, tokens: ranks)
        }
    }
}
