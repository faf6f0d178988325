import Foundation
import Interpretability
import LanternCore
import Models

/// Trains a tuned lens (Belrose et al. 2023) on the model's own activations over a corpus: every
/// translator starts at zero (the logit lens) and Adam lowers the mean over tokens of
/// KL(final distribution ‖ lens distribution), each row on the same tokens. The big products
/// (unembedding, its backward g · W_U, the translators and their weight gradients) run on the
/// backend; the softmax, KL and RMSNorm backward on the host (`TunedLensObjective`).
///
/// Scale: Adam moves every entry by about the learning rate per step, whatever its gradient's
/// size, so each translator is trained in units of its layer's residual: with σᵢ the RMS of
/// dimension i at that layer (from the first step; floored at a tenth of the layer's RMS), Adam
/// updates b̂ and Ŵ where b = σ ⊙ b̂ and W[o][i] = σₒ Ŵ[o][i] / σᵢ. Gemma's residual has a few
/// dimensions hundreds of times larger than the rest; without this a step sized for them wrecks
/// the others (measured: late layers of Gemma 3 270M ended worse than the logit lens). Ŵ takes
/// `learningRate / √d` (a d-wide sum of entries each moving by the rate), b̂ `learningRate`.
/// Warm-up over the first 10% of steps, then a linear decay to zero.
public struct TunedLensTrainer {
    public struct Options: Sendable, Equatable {
        /// Training tokens (positions, BOS excluded unless `includeBOS`).
        public var tokens: Int
        /// Tokens per context, BOS included.
        public var context: Int
        public var contextsPerStep: Int
        public var learningRate: Float
        public var includeBOS: Bool
        /// Uses contexts 0, stride, 2·stride, … of the corpus: spreads a short run over more text.
        public var contextStride: Int

        public init(tokens: Int, context: Int = 128, contextsPerStep: Int = 4, learningRate: Float = 1e-2, includeBOS: Bool = false,
                    contextStride: Int = 1) {
            self.tokens = tokens
            self.context = context
            self.contextsPerStep = contextsPerStep
            self.learningRate = learningRate
            self.includeBOS = includeBOS
            self.contextStride = contextStride
        }

        var tokensPerContext: Int { includeBOS ? context : context - 1 }
        public var steps: Int { max(1, (tokens + tokensPerContext * contextsPerStep - 1) / (tokensPerContext * contextsPerStep)) }
    }

    /// What one step did: mean KL per translator row over the step's tokens, before the update.
    public struct Step: Sendable {
        public let step: Int
        public let steps: Int
        public let tokens: Int
        public let kl: [Double]
    }

    public let model: Transformer
    public let packer: ContextPacker
    public let options: Options

    public init(model: Transformer, packer: ContextPacker, options: Options) throws {
        guard options.context >= 2, options.context <= model.config.contextLength else {
            throw LanternError.invalidArgument("context \(options.context) must be in 2...\(model.config.contextLength) (the model's context)")
        }
        guard options.tokens > 0, options.contextsPerStep > 0, options.learningRate > 0, options.contextStride > 0 else {
            throw LanternError.invalidArgument("tokens, contexts per step, the context stride and the learning rate must be positive")
        }
        self.model = model
        self.packer = packer
        self.options = options
    }

    /// Trains `lens` in place (start from `TunedLens(for:name:)` for the paper's zero start).
    /// What `progress` throws stops the training after that step (a caller's cancel). With
    /// `checkpoint`, the run's state is saved there every `every` steps and after the last;
    /// `resume` (a saved state of a run with these options) continues it exactly, skipping the
    /// contexts its steps read.
    public func train(_ lens: inout TunedLens, resume: TunedLensCheckpoint? = nil, checkpoint: (path: String, every: Int)? = nil,
                      progress: (Step) throws -> Void = { _ in }) throws {
        try lens.check(against: model.config)
        let b = model.backend, c = model.config, o = options
        let d = c.hiddenSize, vocab = c.vocabSize, rows = lens.config.layerCount
        let names = Array(LogitLens.residualHooks(c).prefix(rows))
        let gradient = try TunedLensGradient(model: model)
        var weightAdam = (0..<rows).map { _ in Adam(learningRate: o.learningRate, sizes: [d * d]) }
        var biasAdam = (0..<rows).map { _ in Adam(learningRate: o.learningRate, sizes: [d]) }
        // Per-dimension residual scale of each row, and the parameters in those units.
        var scales: [[Float]]?
        var unitWeights = lens.weights, unitBiases = lens.biases
        let steps = o.steps
        var step = 0
        if let resume {
            guard resume.options == o else {
                throw LanternError.invalidArgument("the checkpoint is of a run with other options (\(resume.options)), not \(o)")
            }
            guard resume.weights.count == rows, resume.biases.allSatisfy({ $0.count == d }) else {
                throw LanternError.invalidArgument("the checkpoint has \(resume.weights.count) translators of width \(resume.biases.first?.count ?? 0); the lens \(rows) of \(d)")
            }
            (unitWeights, unitBiases, scales, step) = (resume.weights, resume.biases, resume.scales, resume.step)
            (weightAdam, biasAdam) = (resume.weightAdam, resume.biasAdam)
            for row in 0..<rows {  // as each step leaves them
                let sigma = resume.scales[row]
                for o in 0..<d { for i in 0..<d { lens.weights[row][o * d + i] = unitWeights[row][o * d + i] * sigma[o] / sigma[i] } }
                if lens.config.bias { for i in 0..<d { lens.biases[row][i] = unitBiases[row][i] * sigma[i] } }
            }
        }
        func save() throws {
            guard let checkpoint, let scales else { return }
            try TunedLensCheckpoint(options: o, step: step, weights: unitWeights, biases: unitBiases, scales: scales,
                                    weightAdam: weightAdam, biasAdam: biasAdam).save(path: checkpoint.path)
        }

        func runStep(_ batch: [[Int32]]) throws {
            var weightGrads = [[Float]](repeating: [Float](repeating: 0, count: d * d), count: rows)
            var biasGrads = [[Float]](repeating: [Float](repeating: 0, count: d), count: rows)
            var klSums = [Double](repeating: 0, count: rows)
            let first = o.includeBOS ? 0 : 1
            let stepTokens = batch.count * (o.context - first)
            let scale = 1 / Float(stepTokens)
            for context in batch {
                let hooks = Hooks(capture: HookFilter(names))
                guard let final = try model.forward(context, hooks: hooks, logits: .all) else {
                    throw LanternError.backend("the forward pass returned no logits")
                }
                let positions = first..<context.count
                let logP = LensDivergence.logSoftmaxRows(try b.read(try final.rows(positions)), vocab: vocab)
                let residuals = try names.map { name -> Tensor in
                    guard let h = hooks.activation(name) else { throw LanternError.backend("the forward pass did not produce \(name)") }
                    return try h.rows(positions)
                }
                if scales == nil {
                    scales = try residuals.map { Self.dimensionScales(try b.read($0), width: d) }
                    for row in 0..<rows {
                        let sigma = scales![row]
                        for o in 0..<d { for i in 0..<d { unitWeights[row][o * d + i] = lens.weights[row][o * d + i] * sigma[i] / sigma[o] } }
                        for i in 0..<d { unitBiases[row][i] = lens.biases[row][i] / sigma[i] }
                    }
                }
                let grads = try gradient.evaluate(lens, rows: Array(0..<rows), residuals: residuals, targetLogP: logP, scale: scale)
                for (row, g) in grads.enumerated() {
                    klSums[row] += g.kl
                    for i in 0..<(d * d) { weightGrads[row][i] += g.weight[i] }
                    for i in 0..<d { biasGrads[row][i] += g.bias[i] }
                }
            }
            step += 1
            let warmup = max(1, steps / 10)
            let schedule = step <= warmup ? Float(step) / Float(warmup) : Float(steps - step + 1) / Float(steps - warmup + 1)
            for row in 0..<rows {
                let sigma = scales![row]
                // Chain rule into the scaled units: ∂L/∂Ŵ[o][i] = ∂L/∂W[o][i] · σₒ/σᵢ, ∂L/∂b̂ = ∂L/∂b · σ.
                for o in 0..<d { for i in 0..<d { weightGrads[row][o * d + i] *= sigma[o] / sigma[i] } }
                for i in 0..<d { biasGrads[row][i] *= sigma[i] }
                weightAdam[row].learningRate = o.learningRate * schedule / Float(d).squareRoot()
                biasAdam[row].learningRate = o.learningRate * schedule
                weightAdam[row].beginStep()
                weightAdam[row].update(&unitWeights[row], gradient: weightGrads[row], index: 0)
                for o in 0..<d { for i in 0..<d { lens.weights[row][o * d + i] = unitWeights[row][o * d + i] * sigma[o] / sigma[i] } }
                if lens.config.bias {
                    biasAdam[row].beginStep()
                    biasAdam[row].update(&unitBiases[row], gradient: biasGrads[row], index: 0)
                    for i in 0..<d { lens.biases[row][i] = unitBiases[row][i] * sigma[i] }
                }
            }
            if let checkpoint, step % checkpoint.every == 0 || step == steps { try save() }
            do {
                try progress(Step(step: step, steps: steps, tokens: step * stepTokens, kl: klSums.map { $0 / Double(stepTokens) }))
            } catch {
                try save()  // a cancelled run continues from here
                throw error
            }
        }

        guard step < steps else { return }
        // The steps done read the first step × contextsPerStep contexts.
        try packer.forEachBatch(size: o.contextsPerStep, stride: o.contextStride, skipping: step * o.contextsPerStep) { batch in
            try runStep(batch)
            return step < steps
        }
        if step < steps {
            throw LanternError.invalidArgument("the corpus ran out after \(step) of \(steps) steps: give more text or fewer tokens")
        }
    }

    /// RMS of each dimension over the rows of x [n, width], floored at a tenth of the RMS over all
    /// entries (so that a near-silent dimension does not blow up W's scaling).
    static func dimensionScales(_ x: [Float], width: Int) -> [Float] {
        let n = max(x.count / width, 1)
        var squares = [Double](repeating: 0, count: width)
        for (i, v) in x.enumerated() { squares[i % width] += Double(v) * Double(v) }
        let overall = (squares.reduce(0, +) / Double(n * width)).squareRoot()
        return squares.map { Float(max(($0 / Double(n)).squareRoot(), 0.1 * overall, 1e-12)) }
    }
}

/// Translators' losses and gradients on a batch of residual rows (the formulas are in
/// `TunedLensObjective`): the products on the backend, the rest on the host. Several translators
/// are evaluated together: their rows are stacked into one product with the unembedding and one
/// with its transpose (a few hundred rows instead of one context's), which runs those products at
/// the GEMM's rate instead of a thin one's. Each translator's figures equal its lone evaluation to
/// summation order.
public struct TunedLensGradient {
    public let model: Transformer
    let gain: [Float]
    /// W_Uᵀ [hidden, vocab] as an f32 weight, for g · W_U.
    let unembeddingT: Tensor
    /// The most logits (rows × vocab) one stacked evaluation holds on the host: 128M floats,
    /// 512 MB (eighteen Gemma 3 translators of 63 rows go in three groups of six, 396 MB each).
    public static let stackedLogits = 1 << 27

    public init(model: Transformer) throws {
        self.model = model
        gain = try model.finalNormGain()
        unembeddingT = try model.unembeddingTransposed()
    }

    /// Σ over rows of KL(p ‖ lens) and the gradients of scale · Σ KL with respect to translator
    /// `row`'s weight [d, d] (torch's [out, in]) and bias [d], for residual rows `residual` [n, d]
    /// whose final-layer log-probabilities are `targetLogP` [n, vocab].
    public func evaluate(_ lens: TunedLens, row: Int, residual: Tensor, targetLogP: [Float], scale: Float) throws
        -> (kl: Double, weight: [Float], bias: [Float]) {
        try evaluate(lens, rows: [row], residuals: [residual], targetLogP: targetLogP, scale: scale)[0]
    }

    /// `evaluate(_:row:residual:targetLogP:scale:)` for each of `rows` (translator indices), each
    /// with its residual rows [n, d] (the same n for all), in stacked groups of at most `maxLogits`
    /// logits (at least one translator per group).
    public func evaluate(_ lens: TunedLens, rows: [Int], residuals: [Tensor], targetLogP: [Float], scale: Float,
                         maxLogits: Int = stackedLogits) throws -> [(kl: Double, weight: [Float], bias: [Float])] {
        precondition(rows.count == residuals.count, "one residual per translator")
        guard let n = residuals.first?.rowCount else { return [] }
        precondition(residuals.allSatisfy { $0.rowCount == n }, "every translator's residual has the same rows")
        // Equal groups (18 Gemma 3 translators of 63 rows: three of six), so that every group's
        // logits reuse the backend's pooled buffers of the group before.
        let most = max(1, maxLogits / max(1, n * model.config.vocabSize))
        let groups = (rows.count + most - 1) / most
        let group = (rows.count + groups - 1) / groups
        var out: [(kl: Double, weight: [Float], bias: [Float])] = []
        for start in stride(from: 0, to: rows.count, by: group) {
            let end = min(rows.count, start + group)
            out += try evaluateStacked(lens, rows: Array(rows[start..<end]), residuals: Array(residuals[start..<end]),
                                       targetLogP: targetLogP, scale: scale)
        }
        return out
    }

    private func evaluateStacked(_ lens: TunedLens, rows: [Int], residuals: [Tensor], targetLogP: [Float], scale: Float) throws
        -> [(kl: Double, weight: [Float], bias: [Float])] {
        let b = model.backend, c = model.config
        let n = residuals[0].rowCount, d = c.hiddenSize, vocab = c.vocabSize, total = n * rows.count
        let translated = try zip(rows, residuals).map { try lens.translate($1, row: $0, backend: b) }
        let t = translated.count == 1 ? translated[0] : try b.stackRows(translated, width: d)
        var z = try b.read(try model.unembed(try model.finalNormed(t)))
        let kl = TunedLensObjective.klAndGradient(&z, targetLogP: targetLogP, vocab: vocab, scale: scale, softcap: c.finalSoftcap)
        let gradNormed = try b.read(try b.matmul(try b.tensor(z, shape: [total, vocab]), unembeddingT))
        let backward = c.layerNorm ? TunedLensObjective.layerNormBackward : TunedLensObjective.rmsNormBackward
        let gradT = backward(try b.read(t), gradNormed, gain, c.rmsEps)
        return try residuals.indices.map { i in
            let mine = Array(gradT[(i * n * d)..<((i + 1) * n * d)])
            let weight = try b.read(try b.matmul(try b.transpose(try b.tensor(mine, shape: [n, d])), try b.transpose(residuals[i])))
            return (kl[(i * n)..<((i + 1) * n)].reduce(0, +), weight, TunedLensObjective.columnSums(mine, width: d))
        }
    }
}
