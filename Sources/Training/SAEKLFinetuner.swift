import Foundation
import Interpretability
import LanternCore
import Models

/// Fine-tunes a trained TopK SAE end to end (`SAEKLObjective`): its reconstructions are spliced
/// into the model and Adam lowers the KL between the clean and the spliced next-token
/// distributions, with a weight on its own reconstruction error. An SAE trained on reconstruction
/// alone spends its capacity on the residual's largest directions, not on what the layers after
/// it read; a short end-to-end run moves it toward what matters downstream while k (its L0)
/// stays where it was.
///
/// Scale: the SAE is trained in a normalised space, x' = c·(x − μ)⊙u with u = 1/√σ per dimension
/// and c making E‖x'‖² = 1, estimated on the first step's activations (as `sae train
/// --normalize per-dimension-sqrt` does); the SAELens weights are an exact reparametrisation of
/// it both ways (`SAEParameters(sae:…)`, `SAELensExport`), so the start computes the same
/// function bit for bit up to rounding. Warm-up over the first 10% of steps, then a linear decay
/// to zero.
public struct SAEKLFinetuner {
    public struct Options: Sendable, Equatable {
        /// Training tokens (spliced positions: BOS left out).
        public var tokens: Int
        /// Tokens per context, BOS included.
        public var context: Int
        public var contextsPerStep: Int
        public var learningRate: Float
        public var reconstructionWeight: Double
        /// Uses contexts 0, stride, 2·stride, … of the corpus.
        public var contextStride: Int

        public init(tokens: Int, context: Int = 128, contextsPerStep: Int = 4, learningRate: Float = 1e-4,
                    reconstructionWeight: Double = 1, contextStride: Int = 1) {
            self.tokens = tokens
            self.context = context
            self.contextsPerStep = contextsPerStep
            self.learningRate = learningRate
            self.reconstructionWeight = reconstructionWeight
            self.contextStride = contextStride
        }

        public var steps: Int { max(1, (tokens + (context - 1) * contextsPerStep - 1) / ((context - 1) * contextsPerStep)) }
    }

    /// What one step measured before its update: mean KL per spliced token, the reconstruction
    /// error (Σ‖x̂' − x'‖² per token in the training space, ≈ 1 − explained variance) and L0.
    public struct Step: Sendable {
        public let step: Int
        public let steps: Int
        public let tokens: Int
        public let kl: Double
        public let reconstructionError: Double
        public let l0: Double
    }

    public let objective: SAEKLObjective
    public let packer: ContextPacker
    public let options: Options

    public init(model: Transformer, hook: String, k: Int, packer: ContextPacker, options: Options) throws {
        guard options.context >= 2, options.context <= model.config.contextLength else {
            throw LanternError.invalidArgument("context \(options.context) must be in 2...\(model.config.contextLength) (the model's context)")
        }
        guard options.tokens > 0, options.contextsPerStep > 0, options.learningRate > 0, options.contextStride > 0,
              options.reconstructionWeight >= 0 else {
            throw LanternError.invalidArgument("tokens, contexts per step, the context stride and the learning rate must be positive, the reconstruction weight not negative")
        }
        objective = try SAEKLObjective(model: model, hook: hook, k: k, reconstructionWeight: options.reconstructionWeight)
        self.packer = packer
        self.options = options
    }

    /// Fine-tunes, starting from `start` (an SAE's SAELens weights) or from `resume`; returns the
    /// parameters (export them with `SAELensExport`). What `progress` throws stops the run after
    /// that step, saving the checkpoint first when there is one.
    public func train(start: SAEWeights, resume: SAEKLCheckpoint? = nil, checkpoint: (path: String, every: Int)? = nil,
                      progress: (Step) throws -> Void = { _ in }) throws -> SAEParameters {
        let o = options, steps = o.steps
        var p: SAEParameters?, adam = Adam(learningRate: o.learningRate, sizes: [])
        var step = 0
        if let resume {
            guard resume.options == o else {
                throw LanternError.invalidArgument("the checkpoint is of a run with other options (\(resume.options)), not \(o)")
            }
            (p, adam, step) = (resume.parameters, resume.adam, resume.step)
        }
        func save() throws {
            guard let checkpoint, let p else { return }
            try SAEKLCheckpoint(options: o, step: step, parameters: p, adam: adam).save(path: checkpoint.path)
        }
        func runStep(_ batch: [[Int32]]) throws {
            if p == nil {
                p = try SAEParameters(sae: start, normalizedOn: try batch.flatMap { try objective.rawInputs($0) }, width: objective.model.config.hiddenSize)
                adam = Adam(learningRate: o.learningRate, sizes: p!.tensors.map(\.values.count))
            }
            var params = p!
            let stepTokens = batch.reduce(0) { $0 + objective.spliced($1).count }
            var grads: SAEGradients?, kl = 0.0, squares = 0.0, l0 = 0.0
            for context in batch {
                let share = try objective.evaluate(params, tokens: context, stepTokens: stepTokens, variance: Double(stepTokens))
                kl += share.kl
                squares += share.squaredError
                l0 += share.l0
                grads = grads.map { Self.sum($0, share.gradients) } ?? share.gradients
            }
            step += 1
            let warmup = max(1, steps / 10)
            adam.learningRate = o.learningRate * (step <= warmup ? Float(step) / Float(warmup) : Float(steps - step + 1) / Float(steps - warmup + 1))
            adam.beginStep()
            let g = grads!
            adam.update(&params.encoder, gradient: g.encoder, index: 0)
            adam.update(&params.encoderBias, gradient: g.encoderBias, index: 1)
            adam.update(&params.decoder, gradient: g.decoder, index: 2)
            adam.update(&params.decoderBias, gradient: g.decoderBias, index: 3)
            p = params
            if let checkpoint, step % checkpoint.every == 0 || step == steps { try save() }
            let t = Double(max(stepTokens, 1))
            do {
                try progress(Step(step: step, steps: steps, tokens: step * stepTokens, kl: kl / t, reconstructionError: squares / t, l0: l0 / t))
            } catch {
                try save()  // a cancelled run continues from here
                throw error
            }
        }

        if step < steps {
            // The steps done read the first step × contextsPerStep contexts.
            try packer.forEachBatch(size: o.contextsPerStep, stride: o.contextStride, skipping: step * o.contextsPerStep) { batch in
                try runStep(batch)
                return step < steps
            }
            if step < steps {
                throw LanternError.invalidArgument("the corpus ran out after \(step) of \(steps) steps: give more text or fewer tokens")
            }
        }
        guard let p else { throw LanternError.invalidArgument("the checkpoint holds no parameters") }
        return p
    }

    static func sum(_ a: SAEGradients, _ b: SAEGradients) -> SAEGradients {
        func add(_ x: [Float], _ y: [Float]) -> [Float] { zip(x, y).map { $0 + $1 } }
        return SAEGradients(encoder: add(a.encoder, b.encoder), encoderBias: add(a.encoderBias, b.encoderBias),
                            decoder: add(a.decoder, b.decoder), decoderBias: add(a.decoderBias, b.decoderBias), logThreshold: [])
    }
}

extension SAEKLObjective {
    /// The hook's raw activations at the spliced positions of `tokens`.
    public func rawInputs(_ tokens: [Int32]) throws -> [Float] {
        let hooks = Hooks(capture: HookFilter([hook]))
        try model.forward(tokens, hooks: hooks, logits: .none)
        guard let x = hooks.activation(hook) else { throw LanternError.backend("the forward pass did not produce \(hook)") }
        return rows(try model.backend.read(x), spliced(tokens), width: model.config.hiddenSize)
    }
}

extension SAEParameters {
    /// A TopK SAE's SAELens weights (centring its input on b_dec) as training-space parameters,
    /// with the normalisation x' = c·(x − μ)⊙u estimated on raw rows `x` (u = 1/√σ per dimension,
    /// σ floored at 1e-6 of the largest; c makes E‖x'‖² = 1). The inverse of `SAELensExport`:
    ///     encoder[j][i] = W_enc[i][j] / uᵢ,  b_enc' = c·b_enc,  decoder[j][i] = W_dec[j][i]·uᵢ,
    ///     b_dec'ᵢ = c·uᵢ·(b_decᵢ − μᵢ).
    public init(sae w: SAEWeights, normalizedOn x: [Float], width d: Int) throws {
        let s = w.bEnc.count, n = x.count / d
        guard n > 1, x.count == n * d, w.bDec.count == d, w.wEnc.count == d * s, w.wDec.count == s * d else {
            throw LanternError.shapeMismatch(op: "SAE fine-tuning", detail: "\(x.count) activations of width \(d) for an SAE of d_in \(w.bDec.count)")
        }
        var mean = [Double](repeating: 0, count: d), squares = mean
        for r in 0..<n { for j in 0..<d { mean[j] += Double(x[r * d + j]) } }
        for j in 0..<d { mean[j] /= Double(n) }
        for r in 0..<n { for j in 0..<d { let v = Double(x[r * d + j]) - mean[j]; squares[j] += v * v } }
        let sigma = squares.map { ($0 / Double(n)).squareRoot() }, floor = (sigma.max() ?? 1) * 1e-6
        let u = sigma.map { 1 / max($0, floor, 1e-30).squareRoot() }
        let spread = (0..<d).reduce(0.0) { $0 + squares[$1] * u[$1] * u[$1] } / Double(n)
        let c = Float(1 / max(spread, 1e-30).squareRoot()), uf = u.map { Float($0) }, mu = mean.map { Float($0) }
        var encoder = [Float](repeating: 0, count: s * d), decoder = encoder
        for j in 0..<s {
            for i in 0..<d {
                encoder[j * d + i] = w.wEnc[i * s + j] / uf[i]
                decoder[j * d + i] = w.wDec[j * d + i] * uf[i]
            }
        }
        self.init(inputWidth: d, width: s, encoder: encoder, encoderBias: w.bEnc.map { c * $0 }, decoder: decoder,
                  decoderBias: (0..<d).map { c * uf[$0] * (w.bDec[$0] - mu[$0]) }, logThreshold: [], inputScale: c,
                  inputShift: mu, dimensionScale: uf)
    }
}
