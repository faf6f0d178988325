import Foundation
import LanternCore
import Models

/// A trained toy model with what it was trained on, its geometry and its loss.
public struct ToyModelRun: Sendable {
    public let settings: ToyModelSettings
    public let model: ToyModel
    public let geometry: ToyModelGeometry
    /// The loss on a fresh batch of `ToyModelTrainer.evaluationRows` rows drawn after training.
    public let loss: Double
    /// (step, mean training loss over the steps since the previous point), about 50 points.
    public let lossCurve: [(step: Int, loss: Double)]
}

/// Trains toy models of superposition with Adam (the project's optimiser), the batch products
/// on a backend. Everything random (initial W, every batch, the evaluation batch) comes from one
/// `SeededGenerator(seed:)`, so a run is a function of its settings.
public enum ToyModelTrainer {
    public static let evaluationRows = 8192

    /// Adam's rate at `step` (0-based): the peak rate times a half cosine from 1 down to 0. The
    /// late small steps let the features settle onto the optimum's geometry (exact right angles,
    /// the regular pentagon) instead of rattling around it at the peak rate's noise level.
    public static func learningRate(_ settings: ToyModelSettings, step: Int) -> Float {
        let progress = Double(step) / Double(max(settings.steps, 1))
        return settings.learningRate * Float(0.5 * (1 + cos(Double.pi * progress)))
    }

    /// `progress(step)` is called every few hundred steps and at the end; what it throws stops
    /// the training (a caller's cancel).
    public static func train(_ settings: ToyModelSettings, backend: any Backend,
                             progress: ((Int) throws -> Void)? = nil) throws -> ToyModelRun {
        try settings.validate()
        let n = settings.features, rows = settings.batchSize
        var random = SeededGenerator(seed: settings.seed)
        var model = ToyModel.initial(features: n, hidden: settings.hidden, random: &random)
        let importance = settings.importance
        var adam = Adam(learningRate: settings.learningRate, sizes: [model.weights.count, n])
        let curveEvery = max(1, settings.steps / 50)
        var curve: [(step: Int, loss: Double)] = []
        var windowLoss = 0.0, windowSteps = 0
        for step in 0..<settings.steps {
            let x = ToyModel.sampleBatch(rows: rows, features: n, sparsity: settings.sparsity, random: &random)
            let (loss, gradWeights, gradBias) = try model.lossAndGradients(x, rows: rows, importance: importance, backend: backend)
            adam.learningRate = learningRate(settings, step: step)
            adam.beginStep()
            adam.update(&model.weights, gradient: gradWeights, index: 0)
            adam.update(&model.bias, gradient: gradBias, index: 1)
            windowLoss += loss
            windowSteps += 1
            if (step + 1) % curveEvery == 0 || step + 1 == settings.steps {
                curve.append((step + 1, windowLoss / Double(windowSteps)))
                windowLoss = 0
                windowSteps = 0
            }
            if let progress, (step + 1) % 250 == 0 || step + 1 == settings.steps { try progress(step + 1) }
        }
        let evaluation = ToyModel.sampleBatch(rows: evaluationRows, features: n, sparsity: settings.sparsity, random: &random)
        let loss = try model.loss(evaluation, rows: evaluationRows, importance: importance, backend: backend)
        return ToyModelRun(settings: settings, model: model, geometry: try ToyModelGeometry(model, backend: backend),
                           loss: loss, lossCurve: curve)
    }

    /// One model per sparsity, otherwise the same settings. Each point trains `restarts` models
    /// (seeds seed, seed + 1, ...) and keeps the one with the lowest evaluation loss: toy models
    /// have local minima (near S = 0.9, four features on a square with the fifth dropped, at a
    /// third more loss than the pentagon), and the paper, too, reads off the best of several
    /// runs. With `concurrently`, the models train on all cores at once (each is a function of its
    /// settings alone, so the results are the same); the backend must then accept calls from
    /// several threads, as the CPU backend does. `progress(done, total)` counts steps over all;
    /// once it throws, every model stops at its next report and the sweep throws that error.
    public static func sweep(_ settings: ToyModelSettings, sparsities: [Double], restarts: Int = 1, backend: any Backend,
                             concurrently: Bool = false, progress: ((Int, Int) throws -> Void)? = nil) throws -> [ToyModelRun] {
        guard restarts >= 1 else { throw LanternError.invalidArgument("toy model: restarts = \(restarts) must be at least 1") }
        let jobs = sparsities.count * restarts
        let total = settings.steps * jobs
        let shared = SweepState(count: jobs, progress: progress)
        let trainOne: @Sendable (Int) -> Void = { job in
            var point = settings
            point.sparsity = sparsities[job / restarts]
            point.seed = settings.seed &+ UInt64(job % restarts)
            var reported = 0
            let result = Result {
                try train(point, backend: backend) { done in
                    try shared.advance(by: done - reported, total: total)
                    reported = done
                }
            }
            shared.store(result, at: job)
        }
        if concurrently {
            Parallel.forEach(jobs) { trainOne($0) }
        } else {
            for job in 0..<jobs { trainOne(job) }
        }
        let runs = try shared.results.map { try $0!.get() }
        return sparsities.indices.map { point in
            runs[(point * restarts)..<((point + 1) * restarts)].min { $0.loss < $1.loss }!
        }
    }
}

/// The sweep's results and step count, shared by the threads that train its models.
private final class SweepState: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var results: [Result<ToyModelRun, any Error>?]
    private var done = 0
    private let progress: ((Int, Int) throws -> Void)?

    init(count: Int, progress: ((Int, Int) throws -> Void)?) {
        results = Array(repeating: nil, count: count)
        self.progress = progress
    }

    func store(_ result: Result<ToyModelRun, any Error>, at index: Int) {
        lock.withLock { results[index] = result }
    }

    func advance(by steps: Int, total: Int) throws {
        try lock.withLock {
            done += steps
            try progress?(done, total)
        }
    }
}
