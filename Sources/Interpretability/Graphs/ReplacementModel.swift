import Foundation
import LanternCore
import Models

/// A model with one transcoder per MLP, linearised at one prompt as circuit tracing does
/// (circuit-tracer's ReplacementModel): attention patterns and every norm's scale frozen at the
/// prompt's values, each MLP replaced by its transcoder's features plus an error term that makes the
/// output exact, and gradients through an MLP only along the transcoder's affine skip. In that
/// frozen system every node's input is a linear function of the source nodes, and one backward pass
/// seeded at a target's input direction gives all its incoming direct effects.
/// Cost: one backward walk per batch of targets (features + logits), each target a stacked copy of
/// the prompt (`Transformer.replicated`); a batch's walk starts at its highest target's layer
/// (blocks above get no gradient and cost nothing) and runs over the targets' prefix of the prompt.
public final class ReplacementModel: @unchecked Sendable {
    public let model: Transformer
    /// Each layer reads `blocks.L.ln2.hook_normalized` and writes `blocks.L.hook_mlp_out`.
    public let transcoders: GraphTranscoders

    public init(model: Transformer, set: GraphTranscoders) throws {
        try set.check(against: model.config)
        self.model = model
        self.transcoders = set
    }

    /// One transcoder per layer, in layer order.
    public convenience init(model: Transformer, transcoders: [Transcoder]) throws {
        try self.init(model: model, set: .perLayer(transcoders))
    }

    /// One cross-layer transcoder over all layers.
    public convenience init(model: Transformer, crossLayer: CrossLayerTranscoder) throws {
        try self.init(model: model, set: .crossLayer(crossLayer))
    }

    /// The backward options of the replacement model: both freezes, MLPs through their skips only.
    public var backwardOptions: BackwardOptions {
        var skips: [Int: Tensor] = [:]
        for l in 0..<model.config.layerCount { skips[l] = transcoders.skipWeight(l) }
        return BackwardOptions(freezeAttentionPatterns: true, freezeNormScales: true, mlpSkips: MLPSkipPaths(weights: skips))
    }

    /// The prompt's unpruned graph: one forward pass, then one backward pass per feature and logit target.
    /// `progress(done, total)` is called with the targets done once the forward pass is in and after
    /// each batch; it may throw to stop the graph there (a server lets other work run in between).
    public func graph(tokens: [Int32], options: GraphOptions = GraphOptions(),
                      progress: (_ done: Int, _ total: Int) throws -> Void = { _, _ in }) throws -> AttributionGraph {
        let m = model, b = m.backend, c = m.config
        let n = tokens.count, d = c.hiddenSize, layers = c.layerCount
        guard n > 0 else { throw LanternError.invalidArgument("an attribution graph needs at least one token") }
        guard options.maxLogits >= 1, options.logitProbability > 0, options.logitProbability <= 1 else {
            throw LanternError.invalidArgument("logit selection needs max logits ≥ 1 and a probability in (0, 1], got \(options.maxLogits) and \(options.logitProbability)")
        }
        if let cap = options.maxFeatureNodes, cap < 0 { throw LanternError.invalidArgument("max feature nodes must be ≥ 0, got \(cap)") }
        guard options.updateInterval >= 1 else { throw LanternError.invalidArgument("the update interval must be ≥ 1, got \(options.updateInterval)") }
        guard options.batchSize >= 1 else { throw LanternError.invalidArgument("the batch size must be ≥ 1, got \(options.batchSize)") }
        let record = try m.recordForward(tokens)
        func activation(_ name: String) throws -> Tensor {
            guard let a = record.activation(name) else { throw LanternError.backend("the forward record lacks \(name)") }
            return a
        }
        let zeroed = min(options.conventions.zeroedLeadingPositions, n)
        let set = transcoders
        let inputHooks = (0..<layers).map { MLPTranscoderHooks.input($0, of: c) }

        // Features, errors and the unattributed constants, layer by layer.
        var features: [(layer: Int, position: Int, feature: Int, activation: Float)] = []
        var errors: [[Float]] = [], constants: [[Float]] = [], encoders: [[Float]] = []
        var layerFeatures: [[Int]] = []   // indices into `features`, per layer
        var layerActs: [Tensor] = []
        for l in 0..<layers {
            let width = set.width(l)
            var acts = try b.read(try set.encode(l, try activation(inputHooks[l])))
            for i in 0..<(zeroed * width) { acts[i] = 0 }
            var indices: [Int] = []
            for p in 0..<n {
                for f in 0..<width where acts[p * width + f] != 0 {
                    indices.append(features.count)
                    features.append((l, p, f, acts[p * width + f]))
                }
            }
            layerFeatures.append(indices)
            layerActs.append(try b.tensor(acts, shape: [n, width]))
            encoders.append(try b.read(set.encoderRows(l)))
        }
        for l in 0..<layers {
            let x = try activation(inputHooks[l])
            let decoded = try b.read(try set.decoded(layerActs, layer: l, backend: b))
            let skipped = try set.skip(l, x).map { try b.read($0) } ?? [Float](repeating: 0, count: n * d)
            let output = try b.read(try activation(MLPTranscoderHooks.output(l)))
            let bias = try b.read(set.decoderBias(l))
            var error = [Float](repeating: 0, count: n * d), constant = error
            for p in 0..<n {
                for j in 0..<d {
                    let i = p * d + j
                    let unexplained = output[i] - decoded[i] - skipped[i]
                    if p < zeroed {
                        constant[i] = unexplained
                    } else if options.conventions.decoderBiasInError {
                        error[i] = unexplained
                    } else {
                        error[i] = unexplained - bias[j]
                        constant[i] = bias[j]
                    }
                }
            }
            errors.append(error)
            constants.append(constant)
        }
        // Which layers' features write to MLP output l, and their decoders as rows (kept once made).
        let sourcesOf = (0..<layers).map { l in (0...l).filter { set.outputLayers(from: $0, of: layers).contains(l) } }
        var decoderRows: [Int: Tensor] = [:]
        func rowsOf(_ source: Int, into target: Int) throws -> Tensor {
            if let r = decoderRows[source * layers + target] { return r }
            let r = try set.decoderRows(from: source, to: target, backend: b)
            decoderRows[source * layers + target] = r
            return r
        }

        // Logit targets: circuit-tracer's salient logits and demeaned unembedding directions.
        let logitRow = try b.read(try record.logits.rows((n - 1)..<n))
        let salient = Self.salientLogits(logitRow, maxLogits: options.maxLogits, probability: options.logitProbability)
        let meanRow = try unembeddingMean()
        let logitDirections = try b.read(try m.unembeddingRows(salient.map { Int32($0.token) }))

        // Nodes, in circuit-tracer's order.
        var nodes = features.map { GraphNode.feature(layer: $0.layer, position: $0.position, feature: $0.feature, activation: $0.activation) }
        for l in 0..<layers { for p in 0..<n { nodes.append(.error(layer: l, position: p)) } }
        for p in 0..<n { nodes.append(.embedding(position: p, token: tokens[p])) }
        for s in salient { nodes.append(.logit(token: Int32(s.token), probability: s.probability)) }
        let count = nodes.count, errorOffset = features.count
        let embeddingOffset = errorOffset + layers * n, logitOffset = embeddingOffset + n
        var adjacency = [Float](repeating: 0, count: count * count)
        var inputs = [Float](repeating: 0, count: count), constantOf = inputs

        // An embedding node is the residual stream's input at its position: the token's embedding,
        // plus its position's where positions are learned (GPT-2), which takes the same gradient.
        var embedded = try b.read(try activation(HookNames.embed))
        if c.positions == .learned { embedded = zip(embedded, try b.read(try activation(HookNames.posEmbed))).map(+) }
        let outputHooks = (0..<layers).map(MLPTranscoderHooks.output)
        let biases = try constantBiases()
        let filter = HookFilter([HookNames.embed] + outputHooks + biases.map(\.hook))
        let stackedHooks = [HookNames.embed, HookNames.finalNorm] + outputHooks + inputHooks + biases.map(\.hook)
        let backwardOptions = self.backwardOptions

        // A target at position p depends only on positions ≤ p (causal attention), so its backward
        // pass runs on the forward record of the prompt's first p + 1 tokens, whose activations are
        // the full record's first rows. One prefix record is kept at a time, and one stacked copy of
        // it for batches (targets come grouped by position).
        // (With a feature budget targets come in influence order, so the full record serves them all.)
        var prefix: (rows: Int, record: ForwardRecord) = (n, record)
        var stack: (rows: Int, copies: Int, record: ForwardRecord)?
        func stacked(rows: Int, copies: Int) throws -> ForwardRecord {
            if let stack, stack.rows == rows, stack.copies == copies { return stack.record }
            if rows != prefix.rows { prefix = (rows, rows == n ? record : try m.recordForward(Array(tokens[0..<rows]))) }
            let r = try m.replicated(prefix.record, copies: copies, hooks: stackedHooks)
            stack = (rows, copies, r)
            return r
        }

        /// One backward pass for a batch of targets over their first `rows` positions (one stacked
        /// copy of the prompt each, seeded with the target's direction at its hook and position);
        /// then each target's row: every source's activation · gradient in that copy, for the layers
        /// below the target's.
        func fillRows(_ batch: [GraphTarget], rows: Int) throws {
            let copies = batch.count
            var seeds: [String: [Float]] = [:]
            for (e, t) in batch.enumerated() {
                var seed = seeds[t.hook] ?? [Float](repeating: 0, count: copies * rows * d)
                let at = (e * rows + t.position) * d
                seed.replaceSubrange(at..<(at + d), with: t.direction)
                seeds[t.hook] = seed
            }
            let points = try m.backward(try stacked(rows: rows, copies: copies), logitGradient: nil,
                                        seeds: try seeds.mapValues { try b.tensor($0, shape: [copies * rows, d]) },
                                        hooks: filter, options: backwardOptions)
            let byName = Dictionary(uniqueKeysWithValues: points.map { ($0.name, $0.gradient) })
            var constant = [Double](repeating: 0, count: copies)
            for (hook, bias) in biases {
                guard let g = byName[hook] else { continue }
                let grad = try b.read(g)
                for e in batch.indices {
                    for p in 0..<rows { constant[e] += Double(Self.dot(bias, 0, grad, e * rows + p, width: d)) }
                }
            }
            if let g = byName[HookNames.embed] {
                let grad = try b.read(g)
                for (e, t) in batch.enumerated() {
                    for p in 0..<rows { adjacency[t.node * count + embeddingOffset + p] = Self.dot(embedded, p, grad, e * rows + p, width: d) }
                }
            }
            for l in 0..<min(batch.map(\.belowLayer).max() ?? 0, layers) {
                guard let gTensor = byName[outputHooks[l]] else { continue }
                let grad = try b.read(gTensor)
                for (e, target) in batch.enumerated() where l < target.belowLayer {
                    for p in 0..<rows {
                        adjacency[target.node * count + errorOffset + l * n + p] = Self.dot(errors[l], p, grad, e * rows + p, width: d)
                        constant[e] += Double(Self.dot(constants[l], p, grad, e * rows + p, width: d))
                    }
                }
                // Each active feature's edge: activation × (its decoder into output l · the gradient
                // there at its position), summed over the outputs it writes (one, per layer).
                for source in sourcesOf[l] where !layerFeatures[source].isEmpty {
                    let width = set.width(source)
                    let projected = try b.read(try b.matmul(gTensor, try rowsOf(source, into: l)))
                    for (e, target) in batch.enumerated() where l < target.belowLayer {
                        for i in layerFeatures[source] where features[i].position < rows {
                            let f = features[i]
                            adjacency[target.node * count + i] += f.activation * projected[(e * rows + f.position) * width + f.feature]
                        }
                    }
                }
            }
            for (e, t) in batch.enumerated() { constantOf[t.node] = Float(constant[e]) }
        }
        let totalTargets = salient.count + min(options.maxFeatureNodes ?? features.count, features.count)
        var doneTargets = 0
        try progress(doneTargets, totalTargets)
        func fill(_ targets: [GraphTarget], rows: Int) throws {
            for start in stride(from: 0, to: targets.count, by: options.batchSize) {
                let batch = Array(targets[start..<min(start + options.batchSize, targets.count)])
                try fillRows(batch, rows: rows)
                doneTargets += batch.count
                try progress(doneTargets, totalTargets)
            }
        }

        // Logit rows first: with a feature budget, they rank the features (circuit-tracer's order).
        let finalNormed = try b.read(try activation(HookNames.finalNorm))
        var logitTargets: [GraphTarget] = []
        for (k, _) in salient.enumerated() {
            let direction = (0..<d).map { logitDirections[k * d + $0] - meanRow[$0] }
            inputs[logitOffset + k] = Self.rowDot(finalNormed, direction, row: n - 1, width: d)
            logitTargets.append(GraphTarget(node: logitOffset + k, hook: HookNames.finalNorm, position: n - 1, direction: direction, belowLayer: layers))
        }
        try fill(logitTargets, rows: n)
        var layerInputs: [Int: [Float]] = [:]
        func featureTarget(_ i: Int) throws -> GraphTarget {
            let f = features[i]
            let direction = Array(encoders[f.layer][(f.feature * d)..<((f.feature + 1) * d)])
            let hook = inputHooks[f.layer]
            if layerInputs[f.layer] == nil { layerInputs[f.layer] = try b.read(try activation(hook)) }
            inputs[i] = Self.rowDot(layerInputs[f.layer]!, direction, row: f.position, width: d)
            return GraphTarget(node: i, hook: hook, position: f.position, direction: direction, belowLayer: f.layer)
        }
        let budget = min(options.maxFeatureNodes ?? features.count, features.count)
        var visited = [Bool](repeating: false, count: features.count)
        if budget == features.count {
            // By position (each on its prefix), the highest layers first so a batch's walk starts
            // where most of its targets do.
            for p in 0..<n {
                let here = features.indices.filter { features[$0].position == p }.sorted { features[$0].layer > features[$1].layer }
                try fill(try here.map(featureTarget), rows: p + 1)
            }
            visited = visited.map { _ in true }
        } else {
            // Visit features in order of their influence on the logits through the rows known so
            // far, re-ranked every `updateInterval` rows (circuit-tracer's compute_partial_influences).
            var done = 0
            while done < budget {
                let influence = Self.partialInfluence(adjacency, count: count, weights: salient.enumerated().map { (logitOffset + $0, $1.probability) })
                let ranked = features.indices.filter { !visited[$0] }.sorted { influence[$0] > influence[$1] || (influence[$0] == influence[$1] && $0 < $1) }
                let next = Array(ranked.prefix(min(options.updateInterval, budget - done)))
                try fill(try next.map(featureTarget), rows: n)
                for i in next { visited[i] = true }
                done += next.count
            }
        }
        if budget < features.count {
            return Self.keepingFeatures(visited, tokens: tokens, layers: layers, nodes: nodes, featureCount: features.count,
                                        logitCount: salient.count, conventions: options.conventions, adjacency: adjacency,
                                        inputs: inputs, constants: constantOf)
        }
        return AttributionGraph(tokens: tokens, layerCount: layers, nodes: nodes, featureCount: features.count,
                                logitCount: salient.count, conventions: options.conventions, adjacency: adjacency,
                                inputs: inputs, constants: constantOf)
    }

    /// Influence on the logits through |rows| normalised (rows not yet computed are zero).
    static func partialInfluence(_ adjacency: [Float], count: Int, weights: [(Int, Float)]) -> [Float] {
        var normalized = [Float](repeating: 0, count: count * count), rows: [Int] = []
        for t in 0..<count {
            var s: Float = 0
            for j in 0..<count { s += abs(adjacency[t * count + j]) }
            guard s > 0 else { continue }
            rows.append(t)
            for j in 0..<count { normalized[t * count + j] = abs(adjacency[t * count + j]) / s }
        }
        var current = [Float](repeating: 0, count: count), total = current
        for (i, w) in weights { current[i] = w }
        for _ in 0...count {
            var next = [Float](repeating: 0, count: count)
            for t in rows where current[t] != 0 {
                for s in 0..<count where normalized[t * count + s] != 0 { next[s] += current[t] * normalized[t * count + s] }
            }
            guard next.contains(where: { $0 != 0 }) else { break }
            for i in 0..<count { total[i] += next[i] }
            current = next
        }
        return total
    }

    /// The graph without the features not visited: their rows and columns go, and what their
    /// columns carried moves into each row's constant (so Σ row + constant = input still holds).
    static func keepingFeatures(_ keep: [Bool], tokens: [Int32], layers: Int, nodes: [GraphNode], featureCount: Int, logitCount: Int,
                                conventions: GraphConventions, adjacency: [Float], inputs: [Float], constants: [Float]) -> AttributionGraph {
        let count = nodes.count
        let kept = (0..<count).filter { $0 >= featureCount || keep[$0] }
        let m = kept.count
        var matrix = [Float](repeating: 0, count: m * m), constant = [Float](repeating: 0, count: m)
        for (r, t) in kept.enumerated() {
            var dropped = Double(constants[t])
            for s in 0..<featureCount where !keep[s] { dropped += Double(adjacency[t * count + s]) }
            constant[r] = Float(dropped)
            for (c, s) in kept.enumerated() { matrix[r * m + c] = adjacency[t * count + s] }
        }
        return AttributionGraph(tokens: tokens, layerCount: layers, nodes: kept.map { nodes[$0] },
                                featureCount: keep.filter { $0 }.count, logitCount: logitCount, conventions: conventions,
                                adjacency: matrix, inputs: kept.map { inputs[$0] }, constants: constant)
    }

    /// The constants of the frozen system that no node carries, each as a bias added at a hook:
    /// the attention branch's value and output biases, read at hook_attn_out (W_O·b_V + b_O: the
    /// frozen pattern's rows sum to one), and a LayerNorm's bias at its hook_normalized (GPT-2,
    /// GPT-NeoX). A target's constant is Σ over these and positions of bias · its gradient there.
    func constantBiases() throws -> [(hook: String, bias: [Float])] {
        let m = model, c = m.config, b = m.backend
        var biases: [(hook: String, bias: [Float])] = []
        for l in 0..<c.layerCount {
            if let bias = try m.attentionValueBias(layer: l) { biases.append(("blocks.\(l).hook_attn_out", bias)) }
            guard c.layerNorm else { continue }
            for norm in ["ln1", "ln2"] {
                biases.append(("blocks.\(l).\(norm).hook_normalized", try b.read(try m.parameter("blocks.\(l).\(norm).b"))))
            }
        }
        if c.layerNorm { biases.append((HookNames.finalNorm, try b.read(try m.parameter("ln_final.b")))) }
        return biases
    }

    /// The mean unembedding row (1/V) Σ_v W_U[v] [hidden], read in chunks of rows.
    func unembeddingMean() throws -> [Float] {
        let v = model.config.vocabSize, d = model.config.hiddenSize, chunk = 4096
        var total = [Double](repeating: 0, count: d)
        for start in stride(from: 0, to: v, by: chunk) {
            let ids = (start..<min(start + chunk, v)).map { Int32($0) }
            let rows = try model.backend.read(try model.unembeddingRows(ids))
            for r in 0..<ids.count { for j in 0..<d { total[j] += Double(rows[r * d + j]) } }
        }
        return total.map { Float($0 / Double(v)) }
    }

    /// circuit-tracer's `compute_salient_logits`: the top `maxLogits` tokens by probability, cut
    /// after the first whose cumulative probability reaches `probability`.
    static func salientLogits(_ logits: [Float], maxLogits: Int, probability: Float) -> [(token: Int, probability: Float)] {
        let top = logits.max() ?? 0
        var z = 0.0
        for x in logits { z += exp(Double(x - top)) }
        let ranked = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }.prefix(maxLogits)
        var kept: [(token: Int, probability: Float)] = [], cumulative = 0.0
        for t in ranked {
            let p = exp(Double(logits[t] - top)) / z
            kept.append((t, Float(p)))
            cumulative += p
            if cumulative >= Double(probability) { break }
        }
        return kept
    }

    /// Row `aRow` of the row-major matrix `a` dotted with row `bRow` of `b` (rows of `width`).
    static func dot(_ a: [Float], _ aRow: Int, _ b: [Float], _ bRow: Int, width: Int) -> Float {
        let ao = aRow * width, bo = bRow * width
        var s = 0.0
        for j in 0..<width { s += Double(a[ao + j]) * Double(b[bo + j]) }
        return Float(s)
    }

    /// Row `row` of the row-major matrix `a` (rows of `width`) dotted with row `row` of `b`, a
    /// same-shaped matrix, or with `b` itself when `b` is one row (a direction).
    static func rowDot(_ a: [Float], _ b: [Float], row: Int, width: Int) -> Float {
        let offset = row * width, bOffset = b.count == width ? 0 : offset
        var s = 0.0
        for j in 0..<width { s += Double(a[offset + j]) * Double(b[bOffset + j]) }
        return Float(s)
    }
}

/// One row of the graph to compute: a seed `direction` at `hook`, row `position`, whose sources
/// are the nodes below layer `belowLayer`.
struct GraphTarget {
    let node: Int
    let hook: String
    let position: Int
    let direction: [Float]
    let belowLayer: Int
}
