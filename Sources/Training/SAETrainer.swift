import Foundation
import Models
import LanternCore

/// Trains a sparse autoencoder on rows from an `ActivationSource`, one batch per `step()`.
///
/// Each step: the batch's loss and hand-derived gradients (`SAEObjective`), the decoder
/// gradients' components along their own rows removed, an Adam update, decoder rows put back at
/// unit norm, and dead-latent bookkeeping. Batches come from a seeded permutation of the rows
/// (one per pass over the data), a function of the seed and the step alone: a run resumed from a
/// checkpoint sees the batches the uninterrupted run would have seen.
public final class SAETrainer {
    public let settings: SAETrainingSettings
    public let source: any ActivationSource
    /// A transcoder's targets, row for row beside `source` (nil: an SAE, whose target is its input).
    public let targets: (any ActivationSource)?
    let objective: SAEObjective
    public internal(set) var parameters: SAEParameters
    public private(set) var adam: Adam
    public private(set) var step = 0
    /// The penalty's current weight (steered towards `targetL0` when one is set).
    public private(set) var sparsityCoefficient: Double
    /// Rows since each latent last fired (capped at the dead horizon).
    public private(set) var rowsSinceFired: [Int]
    private var permutation: (pass: Int, order: [Int])?

    public init(settings: SAETrainingSettings, source: any ActivationSource, targets: (any ActivationSource)? = nil,
                backend: any Backend) throws {
        guard source.rowCount > 0 else { throw LanternError.invalidArgument("no activations to train on") }
        guard settings.transcoder == (targets != nil) else {
            throw LanternError.invalidArgument(settings.transcoder ? "a transcoder needs target activations" : "an SAE has no separate targets")
        }
        if let targets, targets.rowCount != source.rowCount || targets.width != source.width {
            throw LanternError.invalidArgument("targets (\(targets.rowCount) rows of \(targets.width)) must match the inputs (\(source.rowCount) rows of \(source.width))")
        }
        guard settings.transcoder || !settings.skipConnection else {
            throw LanternError.invalidArgument("only a transcoder has a skip connection")
        }
        guard settings.width > 0, settings.batchSize > 0, settings.tokens > 0 else {
            throw LanternError.invalidArgument("width, batch size and tokens must be positive")
        }
        if settings.architecture == .topk, !(1...settings.width).contains(settings.k) {
            throw LanternError.invalidArgument("k = \(settings.k) must be in 1...\(settings.width) (the width)")
        }
        self.settings = settings
        self.source = source
        self.targets = targets
        objective = SAEObjective(backend: backend, settings: settings)
        sparsityCoefficient = settings.sparsityCoefficient
        rowsSinceFired = [Int](repeating: 0, count: settings.width)

        // Normalise (per dimension when asked, then one scalar so that E‖x'‖² = 1), and start
        // b_dec at the geometric median of a sample.
        let sampleRows = min(source.rowCount, 4096)
        let indices = Array(Self.permutation(rows: source.rowCount, seed: settings.seed, pass: 0).prefix(sampleRows))
        let sample = try source.rows(indices)
        let d = source.width
        try Self.requireFinite(sample, indices: indices, width: d, what: "activation")
        var unscaled = SAEParameters(inputWidth: d, width: 0, encoder: [], encoderBias: [], decoder: [], decoderBias: [],
                                     logThreshold: [], inputScale: 1)
        if settings.normalization != .scalar {
            (unscaled.inputShift, unscaled.dimensionScale) = Self.meanAndInverseDeviation(
                sample, rows: sampleRows, width: d, power: settings.normalization.power)
        }
        let standardized = unscaled.normalized(sample)
        let scale = Self.unitMeanSquareScale(standardized, rows: sampleRows)
        // b_dec starts at the geometric median of what the decoder reconstructs.
        var targetShape = SAEParameters(inputWidth: d, width: 0, encoder: [], encoderBias: [], decoder: [], decoderBias: [],
                                        logThreshold: [], inputScale: 1)
        let targetSample = try targets.map { try $0.rows(indices) }
        if let targetSample { try Self.requireFinite(targetSample, indices: indices, width: d, what: "target") }
        if let targetSample, settings.normalization != .scalar {
            (targetShape.targetShift, targetShape.targetDimensionScale) = Self.meanAndInverseDeviation(
                targetSample, rows: sampleRows, width: d, power: settings.normalization.power)
        }
        targetShape.targetScale = targetSample.map { Self.unitMeanSquareScale(targetShape.normalizedTarget($0), rows: sampleRows) } ?? 1
        let median = GeometricMedian.weiszfeld(targetSample.map(targetShape.normalizedTarget) ?? standardized.map { $0 * scale },
                                               rows: sampleRows, width: d)
        var random = SeededGenerator(seed: settings.seed)
        parameters = SAEParameters.initial(inputWidth: d, width: settings.width, architecture: settings.architecture,
                                           initialThreshold: settings.initialThreshold, decoderBias: median,
                                           inputScale: scale, random: &random)
        parameters.inputShift = unscaled.inputShift
        parameters.dimensionScale = unscaled.dimensionScale
        if settings.transcoder {
            parameters.centersInput = false
            parameters.targetScale = targetShape.targetScale
            parameters.targetShift = targetShape.targetShift
            parameters.targetDimensionScale = targetShape.targetDimensionScale
            // The skip starts at zero (as Gemma Scope 2 and circuit-tracer do): features first.
            if settings.skipConnection { parameters.skip = [Float](repeating: 0, count: d * d) }
        }
        if let target = settings.targetL0, settings.architecture != .topk {
            let quantiles = try Self.thresholdsFiringAtRate(
                target / Double(settings.width), parameters: parameters, sample: parameters.normalized(sample),
                rows: sampleRows, backend: backend)
            if settings.architecture == .jumprelu {
                parameters.logThreshold = quantiles.map { log(max($0, settings.initialThreshold)) }
            } else {
                // ReLU: shift each latent's bias so that it, too, starts at the target rate (and the
                // step starts sparse instead of with half the latents active).
                parameters.encoderBias = quantiles.map { -$0 }
            }
        }
        adam = Adam(learningRate: settings.learningRate, sizes: parameters.tensors.map(\.values.count))
    }

    /// c with E‖c·x‖² = 1 over the rows of a sample (1 for a sample of zeros).
    static func unitMeanSquareScale(_ x: [Float], rows: Int) -> Float {
        let meanSquaredNorm = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(rows)
        return meanSquaredNorm > 0 ? Float(1 / meanSquaredNorm.squareRoot()) : 1
    }

    /// With an L0 target: the quantile of each latent's initial pre-activations above which a
    /// fraction `rate` of the sample lies. JumpReLU starts its thresholds there (instead of
    /// spending thousands of steps raising them from 0.001: log θ moves about one learning rate
    /// per Adam step); ReLU subtracts it from the encoder bias.
    static func thresholdsFiringAtRate(_ rate: Double, parameters p: SAEParameters, sample: [Float], rows m: Int,
                                       backend: any Backend) throws -> [Float] {
        let d = p.inputWidth, s = p.width
        var centered = sample
        if p.centersInput { for i in 0..<m { for j in 0..<d { centered[i * d + j] -= p.decoderBias[j] } } }
        let pre = try backend.read(backend.matmul(backend.matrix(centered, rows: m, cols: d),
                                                  backend.matrix(p.encoder, rows: s, cols: d)))
        // The value with `above` values over it: the smallest of the `above + 1` largest.
        let above = min(m - 1, max(0, Int(rate * Double(m))))
        var quantiles = [Float](repeating: 0, count: s)
        quantiles.withUnsafeMutableBufferPointer { buffer in
            let out = SharedBuffer(pointer: buffer.baseAddress!)
            Parallel.forRanges(s) { latents in
                for j in latents {
                    var column = (0..<m).map { pre[$0 * s + j] + p.encoderBias[j] }
                    var order = [Int32](repeating: 0, count: m)
                    let kept = largestFirst(&column, &order, k: above + 1)
                    out.pointer[j] = column.prefix(kept).min()!
                }
            }
        }
        return quantiles
    }

    /// Per-dimension mean and σ^−power of a sample (σ floored at 1e-6 of the largest, so that a
    /// constant dimension does not blow up).
    static func meanAndInverseDeviation(_ x: [Float], rows m: Int, width d: Int, power: Double = 1) -> ([Float], [Float]) {
        let (mean, deviation) = ColumnMoments.meanAndDeviation(x, rows: m, width: d)
        let floor = max(deviation.max() ?? 0, 1e-30) * 1e-6
        return (mean.map(Float.init), deviation.map { Float(pow(max($0, floor), -power)) })
    }

    /// Restores a trainer from a checkpoint written by `saveCheckpoint`.
    init(restoring state: SAETrainerState, source: any ActivationSource, targets: (any ActivationSource)?,
         backend: any Backend) {
        settings = state.settings
        self.source = source
        self.targets = targets
        objective = SAEObjective(backend: backend, settings: state.settings)
        parameters = state.parameters
        adam = state.adam
        step = state.step
        sparsityCoefficient = state.sparsityCoefficient
        rowsSinceFired = state.rowsSinceFired
    }

    public var totalSteps: Int { (settings.tokens + settings.batchSize - 1) / settings.batchSize }
    public var isFinished: Bool { step >= totalSteps }
    public var deadFraction: Double {
        Double(rowsSinceFired.filter { $0 >= settings.deadAfterTokens }.count) / Double(settings.width)
    }

    /// One optimisation step on the next batch.
    @discardableResult
    public func trainStep() throws -> SAEBatchResult {
        let n = settings.batchSize, d = parameters.inputWidth
        let indices = batchIndices(step: step)
        let raw = try source.rows(indices)
        try Self.requireFinite(raw, indices: indices, width: d, what: "activation")
        let rawTargets = try targets.map { try $0.rows(indices) }
        if let rawTargets { try Self.requireFinite(rawTargets, indices: indices, width: d, what: "target") }
        let x = parameters.normalized(raw)
        let y = rawTargets.map { parameters.normalizedTarget($0) }
        let dead = rowsSinceFired.map { $0 >= settings.deadAfterTokens }
        var result = try objective.evaluate(parameters, batch: x, target: y, rows: n,
                                            sparsityCoefficient: sparsityCoefficient, dead: dead)
        Self.removeParallelComponent(&result.gradients.decoder, rows: parameters.decoder, width: d)

        adam.beginStep()
        let g = result.gradients
        adam.update(&parameters.encoder, gradient: g.encoder, index: 0)
        adam.update(&parameters.encoderBias, gradient: g.encoderBias, index: 1)
        adam.update(&parameters.decoder, gradient: g.decoder, index: 2)
        adam.update(&parameters.decoderBias, gradient: g.decoderBias, index: 3)
        if !parameters.logThreshold.isEmpty { adam.update(&parameters.logThreshold, gradient: g.logThreshold, index: 4) }
        if !parameters.skip.isEmpty {
            adam.update(&parameters.skip, gradient: g.skip, index: parameters.logThreshold.isEmpty ? 4 : 5)
        }
        SAEParameters.normalizeRows(&parameters.decoder, width: d)

        for j in 0..<settings.width {
            rowsSinceFired[j] = result.fired[j] ? 0 : min(rowsSinceFired[j] + n, settings.deadAfterTokens)
        }
        if let target = settings.targetL0, settings.architecture != .topk {
            // A multiplicative controller: raise the penalty while L0 is above target, lower it
            // below; slow (L0 follows the thresholds, which move about one learning rate per step)
            // and kept within a factor 1000 of the starting value so that it cannot run away.
            let error = max(-1, min(1, (result.l0 - target) / target))
            let start = settings.sparsityCoefficient
            sparsityCoefficient = min(start * 1000, max(start / 1000, sparsityCoefficient * exp(0.01 * error)))
        }
        step += 1
        return result
    }

    /// The rows of batch `step`: positions step·B ..< (step+1)·B of the stream of seeded
    /// permutations of all rows, one permutation per pass.
    func batchIndices(step: Int) -> [Int] {
        let rows = source.rowCount, n = settings.batchSize
        return (0..<n).map { r in
            let position = step * n + r
            let pass = position / rows
            if permutation?.pass != pass {
                permutation = (pass, Self.permutation(rows: rows, seed: settings.seed, pass: pass))
            }
            return permutation!.order[position % rows]
        }
    }

    static func permutation(rows: Int, seed: UInt64, pass: Int) -> [Int] {
        var random = SeededGenerator(seed: seed ^ (0xD1B5_4A32_D192_ED03 &* UInt64(pass + 1)))
        var order = Array(0..<rows)
        order.shuffle(using: &random)
        return order
    }

    /// g_i −= (g_i · w_i) w_i for each (unit-norm) decoder row w_i: the step then moves along the
    /// sphere the rows are kept on.
    static func removeParallelComponent(_ gradient: inout [Float], rows w: [Float], width d: Int) {
        for r in 0..<(w.count / d) {
            var dot: Float = 0
            for j in 0..<d { dot += gradient[r * d + j] * w[r * d + j] }
            for j in 0..<d { gradient[r * d + j] -= dot * w[r * d + j] }
        }
    }

    public var state: SAETrainerState {
        SAETrainerState(settings: settings, parameters: parameters, adam: adam, step: step,
                        sparsityCoefficient: sparsityCoefficient, rowsSinceFired: rowsSinceFired)
    }

    public static func resume(checkpoint path: String, source: any ActivationSource, targets: (any ActivationSource)? = nil,
                              backend: any Backend) throws -> SAETrainer {
        let state = try SAETrainerState.load(path: path)
        guard state.settings.transcoder == (targets != nil) else {
            throw LanternError.badFile(path: path, field: "transcoder", problem: state.settings.transcoder
                ? "the checkpoint is a transcoder's: give its targets" : "the checkpoint is an SAE's: it takes no targets")
        }
        // The rows must be as wide as the run's: the trainer's loops index them by its widths.
        guard source.width == state.parameters.inputWidth else {
            throw LanternError.badFile(path: path, field: "input_width", problem: "\(state.parameters.inputWidth), but the activations are \(source.width) wide")
        }
        if let targets, targets.width != state.parameters.decoderBias.count {
            throw LanternError.badFile(path: path, field: "decoder_bias", problem: "\(state.parameters.decoderBias.count) outputs, but the targets are \(targets.width) wide")
        }
        return SAETrainer(restoring: state, source: source, targets: targets, backend: backend)
    }
}
