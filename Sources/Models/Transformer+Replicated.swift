import LanternCore

/// Many backward passes as one: in the frozen system (attention patterns and norm scales fixed)
/// every op of the backward walk acts row by row except the attention's mixing over positions. So
/// B targets can share one walk over B stacked copies of the prompt's rows: the matrix products
/// become [B·n, d] GEMMs instead of B products of n rows, and each op's fixed cost is paid once.
/// Attention mixes positions within each copy only. Attribution graphs batch their targets this way
/// (circuit-tracer expands the batch dimension to the same end).
extension Transformer {
    /// `record` with what a frozen backward walk reads stacked `copies` times: each block's
    /// resid_pre, resid_mid and attn.hook_z (norm scales and the branches' output norms), the last
    /// resid_post (the final norm), and `hooks` (seeded or read points). Queries, keys and values
    /// stay single: attention runs copy by copy.
    public func replicated(_ record: ForwardRecord, copies: Int, hooks: [String]) throws -> ForwardRecord {
        guard copies >= 1 else { throw LanternError.invalidArgument("stacked copies must be ≥ 1, got \(copies)") }
        guard record.copies == 1 else { throw LanternError.invalidArgument("the record is already stacked (\(record.copies) copies)") }
        if copies == 1 { return record }
        var names = Set(hooks)
        for n in self.names { names.formUnion([n.residPre, n.z] + (config.parallelResidual ? [] : [n.residMid])) }
        names.insert(self.names[config.layerCount - 1].residPost)
        var activations = record.activations
        for name in names {
            guard let a = record.activations[name] else { throw LanternError.invalidArgument("no hook point '\(name)' to stack") }
            let values = try backend.read(a)
            var stacked = [Float]()
            stacked.reserveCapacity(values.count * copies)
            for _ in 0..<copies { stacked.append(contentsOf: values) }
            activations[name] = try backend.tensor(stacked, shape: [a.rowCount * copies, a.width])
        }
        return ForwardRecord(tokens: record.tokens, logits: record.logits, rawLogits: record.rawLogits,
                             activations: activations, copies: copies)
    }

    /// `body` applied to each copy's rows of `gradient`, the results stacked again.
    func eachCopy(of record: ForwardRecord, _ gradient: Tensor, _ b: any DifferentiableBackend,
                  _ body: (Tensor) throws -> Tensor) throws -> Tensor {
        let copies = record.copies
        if copies == 1 { return try body(gradient) }
        let n = gradient.rowCount / copies
        var out = [Float](), width = 0
        for c in 0..<copies {
            let part = try body(try gradient.rows((c * n)..<((c + 1) * n)))
            width = part.width
            out.append(contentsOf: try b.read(part))
        }
        return try b.tensor(out, shape: [n * copies, width])
    }
}
