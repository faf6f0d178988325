import LanternCore

/// Several sequences in one forward pass: their rows packed one after another, so every weight
/// product (q, k, v, o, the MLP, the unembedding) is one many-row product over all of them, while
/// what depends on a sequence's positions — RoPE, attention — runs on each sequence's rows alone,
/// at positions 0… . Each sequence has its own hooks, which see only its rows (positions from 0),
/// so a hook function, a capture or an intervention behaves as in that sequence's own pass.
///
/// Every row-wise op computes a row from that row alone, and a product's row is the same k-ordered
/// sum whatever the number of rows, up to the rounding of fused and separate multiply-adds (a
/// short sequence alone takes the few-row kernel): each sequence's activations equal its solo run
/// to summation order (BatchForwardTests bounds the difference by 3e-6 relative).
extension Transformer {
    /// Runs `sequences` and returns each one's logits as `logits` asks (nil for `.none`);
    /// `hooks[i]`, when given, are sequence i's. With `caches`, sequence i continues the sequence
    /// cached in `caches[i]` (its rows at positions from that cache's length, its keys and values
    /// appended to it): a decoding step of several generations at once. `stopAfterLayer` ends the
    /// pass after that block, as in a single pass (no logits, no caches).
    public func forward(batch sequences: [[Int32]], hooks: [Hooks?]? = nil, logits: LogitRows = .all,
                        stopAfterLayer: Int? = nil, caches: [KVCache]? = nil) throws -> [Tensor?] {
        let c = config, b = backend
        guard !sequences.isEmpty else { return [] }
        if let hooks, hooks.count != sequences.count {
            throw LanternError.invalidArgument("\(hooks.count) hook sets for \(sequences.count) sequences")
        }
        if let caches, caches.count != sequences.count || Set(caches.map(ObjectIdentifier.init)).count != caches.count {
            throw LanternError.invalidArgument("\(caches.count) KV caches for \(sequences.count) sequences (one each, none shared)")
        }
        if stopAfterLayer != nil && (logits != .none || caches != nil) {
            throw LanternError.invalidArgument("stopping after a layer leaves no logits and no caches")
        }
        if sequences.count == 1 {
            return [try forward(sequences[0], cache: caches?[0], hooks: hooks?[0], logits: logits, stopAfterLayer: stopAfterLayer)]
        }
        var segments: [Range<Int>] = [], row = 0
        let starts = caches?.map(\.length) ?? [Int](repeating: 0, count: sequences.count)
        for (i, tokens) in sequences.enumerated() {
            guard !tokens.isEmpty else { throw LanternError.invalidArgument("sequence \(i) of the batch has no tokens") }
            guard starts[i] + tokens.count <= c.contextLength else {
                throw LanternError.invalidArgument("sequence \(i): \(starts[i] + tokens.count) tokens exceed the model's context of \(c.contextLength)")
            }
            if let caches, starts[i] + tokens.count > caches[i].capacity {
                throw LanternError.invalidArgument("sequence \(i): \(starts[i] + tokens.count) tokens exceed its KV cache's capacity of \(caches[i].capacity)")
            }
            segments.append(row..<(row + tokens.count))
            row += tokens.count
        }
        let positions = segments.indices.map { starts[$0]..<(starts[$0] + segments[$0].count) }
        let each = segments.indices.map { i in
            hooks?[i].map { SequenceHooks(hooks: $0, positions: positions[i], backend: b) }
        }
        let pass = BatchPass(model: self, segments: segments, hooks: each)

        var x = try embed(sequences.flatMap { $0 }, positions: positions.joined()) { try pass.visit($0, $1, nil) }
        let finite = b as? FiniteChecking
        for (l, w) in blocks.enumerated() {
            let names = self.names[l]
            x = try pass.visit(names.residPre, x, l)

            // Attention: the products over every row; RoPE and attention over the packed rows, each
            // sequence at positions from 0 seeing only its own keys (per sequence where a hook asks
            // for its scores or pattern, and with caches, where each continues its own cache).
            let h = try w.ln1.map { try pass.norm(x, $0, scale: names.ln1Scale, normalized: names.ln1, l) } ?? x
            let qkv = try attentionInputs(h, layer: l) { try pass.visit($0, $1, l) }
            var q = qkv.q, k = qkv.k
            if c.rotary {
                let rope = c.rope(layer: l)
                func rotate(_ t: Tensor, heads: Int) throws -> Tensor {
                    guard caches != nil else { return try b.rope(t, heads: heads, headDim: c.headDim, segments: segments, params: rope) }
                    return try pass.perSequence(t) { try b.rope($1, heads: heads, headDim: c.headDim, start: starts[$0], params: rope) }
                }
                q = try pass.visit(names.rotQ, try rotate(q, heads: c.heads), l)
                k = try pass.visit(names.rotK, try rotate(k, heads: c.kvHeads), l)
            }
            let zRaw: Tensor
            if let caches {
                // Each sequence's keys and values join its cache; its queries read the whole cache.
                zRaw = try pass.perSequence(q) { i, qi in
                    try b.copyRows(try k.rows(segments[i]), into: caches[i].keys[l], at: starts[i])
                    try b.copyRows(try qkv.v.rows(segments[i]), into: caches[i].values[l], at: starts[i])
                    return try attentionValues(q: qi, keys: caches[i].keys[l], values: caches[i].values[l], start: starts[i],
                                               layer: l, hooks: each[i])
                }
            } else if each.contains(where: { $0?.hooks.wants(names.scores) == true || $0?.hooks.wants(names.pattern) == true }) {
                zRaw = try pass.perSequence(q) { i, qi in
                    try attentionValues(q: qi, keys: try k.rows(segments[i]), values: try qkv.v.rows(segments[i]), start: 0, layer: l,
                                        hooks: each[i])
                }
            } else {
                zRaw = try b.attention(q: q, k: k, v: qkv.v, segments: segments, params: c.attentionParams(layer: l))
            }
            let z = try pass.visit(names.z, zRaw, l)
            var attnOut = try b.matmul(z, w.o)
            attnOut = try pass.replacingRows(of: attnOut, wanting: names.result) { i, zi in
                // Each head's share of the output projection, for the sequences whose hooks ask.
                let result = try each[i]!(names.result, try headResults(zi, layer: l), l)
                return each[i]!.hooks.intervenes(names.result) ? try sumHeads(result) : nil
            } input: { try z.rows($0) }
            attnOut = try pass.visit(names.attnOut, try branchNorm(try withBias(attnOut, w.oBias), w.ln1Post), l)
            if !c.parallelResidual { x = try pass.visit(names.residMid, try b.add(x, attnOut), l) }

            // MLP.
            let h2 = try w.ln2.map { try pass.norm(x, $0, scale: names.ln2Scale, normalized: names.ln2, l) } ?? x
            let ffn = try mlp(h2, layer: l) { try pass.visit($0, $1, l) }
            let mlpOut = try pass.visit(names.mlpOut, try branchNorm(ffn.out, w.ln2Post), l)
            x = try pass.visit(names.residPost, try residualSum(x, attnOut, mlpOut), l)
            if let finite, try !finite.allFinite(x) {
                // On the way to an error only: the first sequence that went non-finite, run alone,
                // names the hook point and position as a single pass does (a cached sequence's
                // earlier tokens are not at hand: its index and block are named instead).
                if caches != nil, let i = try segments.indices.first(where: { try !finite.allFinite(try x.rows(segments[$0])) }) {
                    throw LanternError.backend("sequence \(i) of the batch went non-finite in block \(l)")
                }
                for (i, segment) in segments.enumerated() where try !finite.allFinite(try x.rows(segment)) {
                    _ = try forward(sequences[i], hooks: hooks?[i], logits: .none)
                }
                throw LanternError.backend("a non-finite activation in block \(l) that no single sequence reproduces")
            }
            if let stopAfterLayer, l >= stopAfterLayer { return sequences.map { _ in nil } }
        }
        for (i, cache) in (caches ?? []).enumerated() { cache.length = starts[i] + segments[i].count }

        let wantNorm = each.contains { $0?.hooks.wants(HookNames.finalNorm) == true || $0?.hooks.wants(HookNames.finalScale) == true }
        if logits == .none && !wantNorm { return sequences.map { _ in nil } }
        let normed = try pass.norm(x, finalNorm, scale: HookNames.finalScale, normalized: HookNames.finalNorm, nil)
        switch logits {
        case .none:
            return sequences.map { _ in nil }
        case .finalNormed:
            return try segments.map { try normed.rows($0) }
        case .all:
            let all = try unembed(normed)
            return try segments.map { try all.rows($0) }
        case .last:
            let lasts = try b.stackRows(segments.map { try normed.rows(($0.upperBound - 1)..<$0.upperBound) }, width: normed.width)
            let all = try unembed(lasts)
            return try segments.indices.map { try all.rows($0..<($0 + 1)) }
        }
    }
}

/// The packed rows of one batched pass and each sequence's hooks.
struct BatchPass {
    let model: Transformer
    let segments: [Range<Int>]
    let hooks: [SequenceHooks?]
    var backend: any Backend { model.backend }

    /// Runs every sequence's hooks on `name` over its rows; rows an intervention changed are
    /// written into a copy of `x` (the pass's tensors are never changed in place).
    func visit(_ name: String, _ x: Tensor, _ layer: Int?) throws -> Tensor {
        try replacingRows(of: x, wanting: name) { i, rows in
            let out = try hooks[i]!(name, rows, layer)
            return hooks[i]!.hooks.intervenes(name) ? out : nil
        } input: { try x.rows($0) }
    }

    /// `x` with the rows of each sequence whose hooks want `name` replaced by what `body` returns
    /// for them (nil: keep), `body` getting the sequence's rows of `input`.
    func replacingRows(of x: Tensor, wanting name: String, _ body: (Int, Tensor) throws -> Tensor?,
                       input: (Range<Int>) throws -> Tensor) throws -> Tensor {
        var replaced: [(Int, Tensor)] = []
        for (i, segment) in segments.enumerated() where hooks[i]?.hooks.wants(name) == true {
            if let out = try body(i, try input(segment)) { replaced.append((i, out)) }
        }
        guard !replaced.isEmpty else { return x }
        let copy = try backend.zeros(shape: x.shape)
        try backend.copyRows(x, into: copy, at: 0)
        for (i, out) in replaced { try backend.copyRows(out, into: copy, at: segments[i].lowerBound) }
        return copy
    }

    /// `body` on each sequence's rows of `x`, the results packed again in order.
    func perSequence(_ x: Tensor, _ body: (Int, Tensor) throws -> Tensor) throws -> Tensor {
        let parts = try segments.enumerated().map { try body($0.offset, try x.rows($0.element)) }
        return try backend.stackRows(parts, width: parts[0].width)
    }

    /// The norm over every row, or per sequence where a sequence's hooks want its scale.
    func norm(_ x: Tensor, _ weights: Norm, scale: String, normalized: String, _ layer: Int?) throws -> Tensor {
        guard hooks.contains(where: { $0?.hooks.wants(scale) == true }) else {
            return try visit(normalized, try model.applyNorm(x, weights), layer)
        }
        return try perSequence(x) { i, rows in
            try model.norm(rows, weights, scale: scale, normalized: normalized, layer: layer, hooks: hooks[i])
        }
    }
}
