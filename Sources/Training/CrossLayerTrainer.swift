import Foundation
import LanternCore
import Models

/// Trains a cross-layer transcoder (`CrossLayerObjective`) on every layer's MLP input and output
/// as `transcoder harvest` saved them, one batch per `trainStep()`: the loss and hand-derived
/// gradients, each latent's decoder gradient made orthogonal to its (unit-norm) decoder rows, an
/// Adam update, the rows put back at unit norm, and dead-latent bookkeeping. Batches come from the
/// same seeded per-pass permutation as `SAETrainer` (a function of the seed and the step), so a run
/// resumed from a checkpoint sees the batches the uninterrupted run would have.
public final class CrossLayerTrainer {
    public let settings: SAETrainingSettings
    /// Layer i's MLP input and output, row for row alike.
    public let inputs: [any ActivationSource]
    public let targets: [any ActivationSource]
    let objective: CrossLayerObjective
    public internal(set) var parameters: CrossLayerParameters
    public private(set) var adam: Adam
    public private(set) var step = 0
    /// Per layer and latent: rows since it last fired (capped at the dead horizon).
    public private(set) var rowsSinceFired: [[Int]]
    private var permutation: (pass: Int, order: [Int])?

    /// Floats a run holds: parameters, their gradients and Adam's two moments (4 copies), and a
    /// batch's pre-activations (with their codes) and rows (inputs, targets, predictions and
    /// their gradients).
    public static func floatsNeeded(layers n: Int, width s: Int, inputWidth d: Int, batch: Int) -> Int? {
        let blocks = CrossLayerParameters.decoderBlocks(layers: n)
        var total = 0
        for term in [[4, blocks, s, d], [4, n, s, d], [2, n, batch, s], [6, n, batch, d]] {
            var product = 1
            for f in term {
                let (next, overflow) = product.multipliedReportingOverflow(by: f)
                if overflow { return nil }
                product = next
            }
            let (sum, overflow) = total.addingReportingOverflow(product)
            if overflow { return nil }
            total = sum
        }
        return total
    }

    public init(settings: SAETrainingSettings, inputs: [any ActivationSource], targets: [any ActivationSource],
                backend: any Backend) throws {
        let n = inputs.count
        guard n > 0, targets.count == n else {
            throw LanternError.invalidArgument("a cross-layer transcoder needs each layer's input and output (\(n) inputs, \(targets.count) outputs)")
        }
        let rows = inputs[0].rowCount, d = inputs[0].width
        guard rows > 0 else { throw LanternError.invalidArgument("no activations to train on") }
        for (l, source) in (inputs + targets).enumerated() where source.rowCount != rows || source.width != d {
            throw LanternError.invalidArgument("layer \(l % n) \(l < n ? "input" : "output"): \(source.rowCount) rows of \(source.width), but layer 0's input has \(rows) rows of \(d)")
        }
        guard settings.architecture == .topk else {
            throw LanternError.invalidArgument("cross-layer transcoders train with TopK only (give k)")
        }
        guard settings.width > 0, settings.batchSize > 0, settings.tokens > 0 else {
            throw LanternError.invalidArgument("width, batch size and tokens must be positive")
        }
        guard (1...settings.width).contains(settings.k) else {
            throw LanternError.invalidArgument("k = \(settings.k) must be in 1...\(settings.width) (the width)")
        }
        self.settings = settings
        self.inputs = inputs
        self.targets = targets
        objective = CrossLayerObjective(backend: backend, settings: settings)
        rowsSinceFired = [[Int]](repeating: [Int](repeating: 0, count: settings.width), count: n)

        // Per layer, as the per-layer trainer: inputs and targets normalised (per dimension when
        // asked, then one scalar making E‖x'‖² = 1), b_dec at the targets' geometric median.
        let sampleRows = min(rows, 4096)
        let indices = Array(SAETrainer.permutation(rows: rows, seed: settings.seed, pass: 0).prefix(sampleRows))
        var inputNormalization: [AffineNormalization] = [], targetNormalization: [AffineNormalization] = []
        var medians: [[Float]] = []
        for l in 0..<n {
            for (source, what) in [(inputs[l], "input"), (targets[l], "output")] {
                let sample = try source.rows(indices)
                try SAETrainer.requireFinite(sample, indices: indices, width: d, what: "layer \(l) \(what)")
                var norm = AffineNormalization()
                if settings.normalization != .scalar {
                    (norm.shift, norm.dimensionScale) = SAETrainer.meanAndInverseDeviation(
                        sample, rows: sampleRows, width: d, power: settings.normalization.power)
                }
                norm.scale = SAETrainer.unitMeanSquareScale(norm.apply(sample, width: d), rows: sampleRows)
                if what == "input" {
                    inputNormalization.append(norm)
                } else {
                    targetNormalization.append(norm)
                    medians.append(GeometricMedian.weiszfeld(norm.apply(sample, width: d), rows: sampleRows, width: d))
                }
            }
        }
        var random = SeededGenerator(seed: settings.seed)
        parameters = CrossLayerParameters.initial(layers: n, width: settings.width, inputWidth: d, decoderBiases: medians, random: &random)
        parameters.inputNormalization = inputNormalization
        parameters.targetNormalization = targetNormalization
        adam = Adam(learningRate: settings.learningRate, sizes: parameters.tensors.map(\.values.count))
    }

    /// Restores a trainer from a checkpoint's state (the sources already checked against it).
    init(restoring state: CrossLayerTrainerState, inputs: [any ActivationSource], targets: [any ActivationSource], backend: any Backend) {
        settings = state.settings
        self.inputs = inputs
        self.targets = targets
        objective = CrossLayerObjective(backend: backend, settings: state.settings)
        parameters = state.parameters
        adam = state.adam
        step = state.step
        rowsSinceFired = state.rowsSinceFired
    }

    public var layerCount: Int { parameters.layerCount }
    public var rowCount: Int { inputs[0].rowCount }
    public var totalSteps: Int { (settings.tokens + settings.batchSize - 1) / settings.batchSize }
    public var isFinished: Bool { step >= totalSteps }
    public var deadFraction: Double {
        Double(rowsSinceFired.joined().filter { $0 >= settings.deadAfterTokens }.count) / Double(settings.width * layerCount)
    }

    /// Normalised inputs and targets of the rows at `indices`, every layer.
    func batch(_ indices: [Int]) throws -> (x: [[Float]], y: [[Float]]) {
        let d = parameters.inputWidth
        var x: [[Float]] = [], y: [[Float]] = []
        for l in 0..<layerCount {
            let raw = try inputs[l].rows(indices), rawTargets = try targets[l].rows(indices)
            try SAETrainer.requireFinite(raw, indices: indices, width: d, what: "layer \(l) input")
            try SAETrainer.requireFinite(rawTargets, indices: indices, width: d, what: "layer \(l) output")
            x.append(parameters.inputNormalization[l].apply(raw, width: d))
            y.append(parameters.targetNormalization[l].apply(rawTargets, width: d))
        }
        return (x, y)
    }

    /// One optimisation step on the next batch.
    @discardableResult
    public func trainStep() throws -> CrossLayerBatchResult {
        let n = settings.batchSize, layers = layerCount
        let (x, y) = try batch(batchIndices(step: step))
        let dead = rowsSinceFired.map { $0.map { $0 >= settings.deadAfterTokens } }
        var result = try objective.evaluate(parameters, inputs: x, targets: y, rows: n, dead: dead)

        // Each latent's decoder gradient, over all its output layers, orthogonal to its rows.
        parameters.removeParallelComponent(&result.gradients)
        adam.beginStep()
        for i in 0..<layers {
            let e = CrossLayerParameters.encoderIndex(i, layers: layers)
            adam.update(&parameters.encoders[i], gradient: result.gradients[e], index: e)
            adam.update(&parameters.encoderBiases[i], gradient: result.gradients[e + 1], index: e + 1)
            for j in i..<layers {
                let index = CrossLayerParameters.decoderIndex(i, j, layers: layers)
                adam.update(&parameters.decoders[i][j - i], gradient: result.gradients[index], index: index)
            }
        }
        for j in 0..<layers {
            let index = CrossLayerParameters.decoderBiasIndex(j, layers: layers)
            adam.update(&parameters.decoderBiases[j], gradient: result.gradients[index], index: index)
        }
        parameters.normalizeDecoderRows()
        result.gradients = []

        for i in 0..<layers {
            for f in 0..<settings.width {
                rowsSinceFired[i][f] = result.fired[i][f] ? 0 : min(rowsSinceFired[i][f] + n, settings.deadAfterTokens)
            }
        }
        step += 1
        return result
    }

    /// The rows of batch `step` (as `SAETrainer.batchIndices`).
    func batchIndices(step: Int) -> [Int] {
        let rows = rowCount, n = settings.batchSize
        return (0..<n).map { r in
            let position = step * n + r
            let pass = position / rows
            if permutation?.pass != pass {
                permutation = (pass, SAETrainer.permutation(rows: rows, seed: settings.seed, pass: pass))
            }
            return permutation!.order[position % rows]
        }
    }

    /// Every output layer's reconstruction of raw rows, in raw units: what the exported folder
    /// must reproduce. `inputs[l]` holds layer l's raw MLP input rows.
    public func reconstruct(rawInputs: [[Float]], rows n: Int) throws -> [[Float]] {
        let d = parameters.inputWidth
        let x = (0..<layerCount).map { parameters.inputNormalization[$0].apply(rawInputs[$0], width: d) }
        let predicted = try objective.reconstruct(parameters, inputs: x, rows: n)
        return (0..<layerCount).map { j in
            let w = parameters.targetNormalization[j].inverseFactors(width: d)
            return predicted[j].indices.map { e in
                Float(Double(predicted[j][e]) * w[e % d] + parameters.targetNormalization[j].shiftValue(e % d))
            }
        }
    }

    public var state: CrossLayerTrainerState {
        CrossLayerTrainerState(settings: settings, parameters: parameters, adam: adam, step: step, rowsSinceFired: rowsSinceFired)
    }

    /// Continues the run a checkpoint holds, on the same layers' activations.
    public static func resume(checkpoint path: String, inputs: [any ActivationSource], targets: [any ActivationSource],
                              backend: any Backend) throws -> CrossLayerTrainer {
        let state = try CrossLayerTrainerState.load(path: path)
        let p = state.parameters
        guard inputs.count == p.layerCount, targets.count == p.layerCount else {
            throw LanternError.badFile(path: path, field: "layers", problem: "\(p.layerCount), but the activations hold \(inputs.count) layers")
        }
        for source in inputs + targets where source.width != p.inputWidth {
            throw LanternError.badFile(path: path, field: "input_width", problem: "\(p.inputWidth), but the activations are \(source.width) wide")
        }
        guard Set((inputs + targets).map(\.rowCount)).count == 1 else {
            throw LanternError.invalidArgument("the layers' activations hold different numbers of rows")
        }
        return CrossLayerTrainer(restoring: state, inputs: inputs, targets: targets, backend: backend)
    }
}
