import LanternCore

/// Gradients with respect to activations: a forward pass that keeps every hook point, then a walk
/// back through the blocks with the backend's backward ops (`DifferentiableBackend`: the CPU and
/// Vulkan backends; another backend is refused with a clear error).
///
/// `BackwardOptions` can freeze attention patterns and norm scales (circuit tracing's linear system).
///
/// Interventions are allowed: the forward runs them and every gradient is with respect to the
/// activation the next op consumed (after the intervention). The walk treats an intervention as
/// the identity, so gradients upstream of it are exact for additive interventions (steering) and
/// are those of the unpatched path for replacements.
extension Transformer {
    /// The forward pass and backward pass for one metric: (activation, gradient) at every hook point
    /// `hooks` matches, in forward order. Attention patterns `hooks` matches come back as
    /// `GradientResult.patterns`: their activations only, since no gradient is computed for them.
    public func gradients(tokens: [Int32], of metric: GradientMetric, hooks filter: HookFilter,
                          interventions: [(pattern: String, body: HookFunction)] = [],
                          options: BackwardOptions = .exact) throws -> GradientResult {
        let record = try recordForward(tokens, interventions: interventions, patterns: filter)
        let (value, points) = try backward(record, metric: metric, hooks: filter, options: options)
        return GradientResult(metric: value, logits: record.logits, points: points, patterns: record.patterns)
    }

    /// Runs `tokens` (no KV cache) keeping what backward passes need, and the attention patterns
    /// `patterns` matches (none by default: they cost [heads, n, n] per layer and no backward pass reads them).
    public func recordForward(_ tokens: [Int32], interventions: [(pattern: String, body: HookFunction)] = [],
                              patterns: HookFilter = .none) throws -> ForwardRecord {
        _ = try differentiableBackend()
        let kept = HookNames.all(config).filter { !HookNames.hasNoGradient($0) || patterns.matches($0) }
        let hooks = Hooks(capture: HookFilter(kept))
        for i in interventions { hooks.intervene(i.pattern, i.body) }
        try forward(tokens, hooks: hooks, logits: .none)
        var activations: [String: Tensor] = [:], keptPatterns: [(name: String, tensor: Tensor)] = []
        for (name, tensor) in hooks.captured {
            if HookNames.hasNoGradient(name) { keptPatterns.append((name, tensor)) } else { activations[name] = tensor }
        }
        guard let normed = activations[HookNames.finalNorm] else {
            throw LanternError.backend("the forward pass did not produce \(HookNames.finalNorm)")
        }
        let raw = try backend.matmul(normed, unembedding)
        let logits = try config.finalSoftcap.map { try backend.softcap(raw, cap: $0) } ?? raw
        return ForwardRecord(tokens: tokens, logits: logits, rawLogits: raw, activations: activations, patterns: keptPatterns)
    }

    /// The metric's value and its gradients at the hook points `hooks` matches, in forward order.
    public func backward(_ record: ForwardRecord, metric: GradientMetric, hooks filter: HookFilter,
                         options: BackwardOptions = .exact) throws -> (value: Float, points: [HookGradient]) {
        let n = record.tokens.count, vocab = config.vocabSize
        let (value, gradient) = try metric.evaluate(logits: try backend.read(record.logits), rows: n, vocab: vocab)
        let points = try backward(record, logitGradient: try backend.tensor(gradient, shape: [n, vocab]), seeds: [:], hooks: filter,
                                 options: options)
        return (value, points)
    }

    /// The general backward pass: the gradient of Σ logits ∘ `logitGradient` (nil: none) plus
    /// Σ_h activation_h · seeds[h] over hook points h, at every hook point `hooks` matches, in
    /// forward order. Seeds start gradients inside the model (a feature's encoder direction at
    /// ln2.hook_normalized, say); blocks after the last seed cost nothing.
    public func backward(_ record: ForwardRecord, logitGradient: Tensor?, seeds: [String: Tensor],
                         hooks filter: HookFilter, options: BackwardOptions = .exact) throws -> [HookGradient] {
        let b = try differentiableBackend(), c = config
        let n = record.tokens.count
        if logitGradient != nil && record.copies > 1 {
            throw LanternError.unsupported("a logit gradient over \(record.copies) stacked copies: seed the final norm's output instead")
        }
        if let logitGradient, logitGradient.shape != [n, c.vocabSize] {
            throw LanternError.shapeMismatch(op: "backward", detail: "logit gradient \(logitGradient.shape) for logits [\(n), \(c.vocabSize)]")
        }
        for (name, seed) in seeds {
            guard !name.hasSuffix("attn.hook_result") else {
                throw LanternError.invalidArgument("a gradient cannot be seeded at \(name): seed the layer's hook_attn_out or attn.hook_z instead")
            }
            guard let a = record.activations[name] else {
                throw LanternError.invalidArgument("no hook point '\(name)' to seed a gradient at (attention patterns cannot be seeded)")
            }
            guard seed.shape == a.shape else {
                throw LanternError.shapeMismatch(op: "backward seed \(name)", detail: "\(seed.shape) for an activation of \(a.shape)")
            }
        }
        func act(_ name: String) throws -> Tensor {
            guard let a = record.activations[name] else { throw LanternError.backend("forward record lacks \(name)") }
            return a
        }
        var points: [HookGradient] = []
        /// The gradient at hook point `name`: what flowed back from downstream plus its seed.
        func at(_ name: String, _ g: Tensor?) throws -> Tensor? {
            var g = g
            if let seed = seeds[name] { g = try g.map { try b.add($0, seed) } ?? seed }
            if filter.matches(name) {
                let a = try act(name)
                points.append(HookGradient(name: name, activation: a, gradient: try g ?? b.zeros(shape: a.shape)))
            }
            return g
        }
        func sum(_ terms: Tensor?...) throws -> Tensor? {
            try terms.compactMap { $0 }.reduce(nil) { acc, t in try acc.map { try b.add($0, t) } ?? t }
        }
        func matmulBack(_ g: Tensor?, _ w: Tensor) throws -> Tensor? { try g.map { try b.matmulBackward($0, w) } }
        func normBack(_ x: Tensor, _ w: Tensor, _ g: Tensor?) throws -> Tensor? {
            try g.map { try b.rmsNormBackward(x, weight: w, eps: c.rmsEps, form: c.normForm, gradient: $0,
                                              frozenScale: options.freezeNormScales) }
        }
        /// An input or final norm: LayerNorm's backward where it has a bias (its bias is a constant).
        func normBack(_ x: Tensor, _ norm: Norm, _ g: Tensor?) throws -> Tensor? {
            guard norm.bias != nil else { return try normBack(x, norm.weight, g) }
            return try g.map { try b.layerNormBackward(x, weight: norm.weight, eps: c.rmsEps, gradient: $0,
                                                      frozenScale: options.freezeNormScales) }
        }

        // Head: logits ← softcap ← unembedding ← final norm.
        var g = try logitGradient.map { dLogits in
            try c.finalSoftcap.map { try b.softcapBackward(record.rawLogits, cap: $0, gradient: dLogits) } ?? dLogits
        }
        let gNormed = try at(HookNames.finalNorm, try matmulBack(g, unembedding))
        g = try normBack(try act(names[c.layerCount - 1].residPost), finalNorm, gNormed)

        for l in stride(from: c.layerCount - 1, through: 0, by: -1) {
            let w = blocks[l], names = self.names[l]
            g = try at(names.residPost, g)
            // In a parallel block (GPT-NeoX) both branches read resid_pre and resid_post's gradient
            // reaches both outputs; the MLP's input gradient joins resid_pre's below.
            let gOut = g
            let mlpInput = c.parallelResidual ? names.residPre : names.residMid

            // MLP; its input norm (ln2) where the family has one, else the residual feeds it directly.
            var gMlp = try at(names.mlpOut, gOut)
            /// The gradient at the MLP's input residual from the gradient at its (normed) input.
            func intoMlpInput(_ gH2: Tensor?) throws -> Tensor? {
                guard let ln2 = w.ln2 else { return gH2 }
                return try normBack(try act(mlpInput), ln2, try at(names.ln2, gH2))
            }
            var gFromMlp: Tensor?
            if let skips = options.mlpSkips {
                // The replacement model: the MLP output is a constant plus the transcoder's skip,
                // which reads what the MLP reads (ln2.hook_normalized, or the residual without ln2).
                for name in [names.mlpPost, names.mlpPre, names.mlpPreLinear] { _ = try at(name, nil) }
                gFromMlp = try intoMlpInput(try skips.weights[l].flatMap { try matmulBack(gMlp, $0) })
            } else {
                if let ln2Post = w.ln2Post, let gOut = gMlp {
                    let unnormed = try b.matmul(try act(names.mlpPost), w.down)
                    gMlp = try normBack(unnormed, ln2Post, gOut)
                }
                let gPost = try at(names.mlpPost, try matmulBack(gMlp, w.down))
                if let gate = w.gate {
                    var gGate: Tensor?, gUp: Tensor?
                    if let gPost {
                        let pre = try act(names.mlpPre), up = try act(names.mlpPreLinear)
                        (gGate, gUp) = c.activation == .geluTanh
                            ? try b.gegluTanhBackward(gate: pre, up: up, gradient: gPost)
                            : try b.swigluBackward(gate: pre, up: up, gradient: gPost)
                    }
                    gGate = try at(names.mlpPre, gGate)
                    gUp = try at(names.mlpPreLinear, gUp)
                    gFromMlp = try intoMlpInput(try sum(try matmulBack(gGate, gate), try matmulBack(gUp, w.up)))
                } else {
                    // Plain GELU (the MLP's biases are constants).
                    let gPre = try at(names.mlpPre, try gPost.map {
                        try b.geluBackward(try act(names.mlpPre), approximation: c.geluApproximation, gradient: $0)
                    })
                    gFromMlp = try intoMlpInput(try matmulBack(gPre, w.up))
                }
            }
            if !c.parallelResidual { g = try at(names.residMid, try sum(gOut, gFromMlp)) }

            // Attention.
            var gAttn = try at(names.attnOut, g)
            if let ln1Post = w.ln1Post, let gOut = gAttn {
                let unnormed = try b.matmul(try act(names.z), w.o)
                gAttn = try normBack(unnormed, ln1Post, gOut)
            }
            // hook_result (each head's output before the sum over heads): the sum passes the
            // branch's gradient to every head unchanged.
            if filter.matches(names.result) {
                let d = c.hiddenSize
                let tiled = try gAttn.map { gradient -> Tensor in
                    let rows = try b.read(gradient), n = gradient.rowCount
                    var out = [Float](repeating: 0, count: n * c.heads * d)
                    for r in 0..<n { for h in 0..<c.heads {
                        for j in 0..<d { out[(r * c.heads + h) * d + j] = rows[r * d + j] }
                    } }
                    return try b.tensor(out, shape: [n, c.heads * d])
                }
                _ = try at(names.result, tiled)
            }
            let gZ = try at(names.z, try matmulBack(gAttn, w.o))
            var gRotQ: Tensor?, gRotK: Tensor?, gV: Tensor?
            if let gZ, options.freezeAttentionPatterns {
                let read = names.attentionInputs(c)
                let q = try act(read.q), k = try act(read.k), v = try act(names.v), params = c.attentionParams(layer: l)
                gV = try eachCopy(of: record, gZ, b) { try b.attentionBackward(q: q, k: k, v: v, queryStart: 0, params: params, gradient: $0).dv }
            } else if let gZ {
                guard record.copies == 1 else {
                    throw LanternError.unsupported("a backward pass over \(record.copies) stacked copies needs frozen attention patterns")
                }
                let read = names.attentionInputs(c)
                (gRotQ, gRotK, gV) = try b.attentionBackward(q: try act(read.q), k: try act(read.k), v: try act(names.v),
                                                            queryStart: 0, params: c.attentionParams(layer: l), gradient: gZ)
            }
            var gQ = gRotQ, gK = gRotK
            if c.rotary {
                gRotQ = try at(names.rotQ, gRotQ)
                gRotK = try at(names.rotK, gRotK)
                let rope = c.rope(layer: l)
                gQ = try gRotQ.map { try b.ropeBackward($0, heads: c.heads, headDim: c.headDim, start: 0, params: rope) }
                gK = try gRotK.map { try b.ropeBackward($0, heads: c.kvHeads, headDim: c.headDim, start: 0, params: rope) }
            }
            gV = try at(names.v, gV)
            if let qNorm = w.qNorm, let kNorm = w.kNorm {
                gQ = try qkNormBackward(try act(names.q), qNorm, try at(names.qNormed, gQ), b, frozenScale: options.freezeNormScales)
                gK = try qkNormBackward(try act(names.k), kNorm, try at(names.kNormed, gK), b, frozenScale: options.freezeNormScales)
            }
            // The projections' biases are constants: the gradient at hook_q/k/v passes through unchanged.
            gQ = try at(names.q, gQ)
            gK = try at(names.k, gK)
            let gH = try sum(try matmulBack(gQ, w.q), try matmulBack(gK, w.k), try matmulBack(gV, w.v))
            let gFromAttention = try w.ln1.map { try normBack(try act(names.residPre), $0, try at(names.ln1, gH)) } ?? gH
            g = try at(names.residPre, try sum(g, gFromAttention, c.parallelResidual ? gFromMlp : nil))
        }
        // resid_pre of block 0 is hook_embed + hook_pos_embed: both get its gradient.
        if c.positions == .learned { _ = try at(HookNames.posEmbed, g) }
        _ = try at(HookNames.embed, g)
        // The walk visits hooks in reverse, but not always exactly (q before k); report forward order.
        let order = HookNames.forwardIndex(c)
        return points.sorted { order[$0.name, default: 0] < order[$1.name, default: 0] }
    }

    /// The backend's backward ops, or one clear line saying this backend has none.
    func differentiableBackend() throws -> any DifferentiableBackend {
        guard let b = backend as? any DifferentiableBackend else {
            throw LanternError.unsupported("gradients need a backend with backward ops (cpu or vulkan): the \(backend.name) backend has none")
        }
        return b
    }

    /// The backward of the QK-norm (`qkNorm`): per head (Gemma 3, Qwen 3) or over the whole row (OLMo 2).
    private func qkNormBackward(_ x: Tensor, _ weight: Tensor, _ g: Tensor?, _ b: any DifferentiableBackend,
                                frozenScale: Bool) throws -> Tensor? {
        guard let g else { return nil }
        let c = config
        let rows = c.qkNorm == .perHead ? [x.count / c.headDim, c.headDim] : x.shape
        return try b.rmsNormBackward(try x.reshaped(rows), weight: weight, eps: c.rmsEps, form: c.normForm,
                                     gradient: try g.reshaped(rows), frozenScale: frozenScale).reshaped(x.shape)
    }
}
