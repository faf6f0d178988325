import Foundation
import Lantern
import Training

/// The toy models of superposition (Elhage et al. 2022), one per sparsity, trained on the CPU
/// (`lantern superposition`). No language model: the job needs only its numbers. Each sparsity
/// keeps the lowest-loss of `restarts` models (seeds seed, seed + 1, ...).
public struct SuperpositionRequest: JobRequest {
    public static let name = "superposition"
    public static let summary = "Train the toy models of superposition (Elhage et al. 2022) over a sweep of sparsities."
    public static let features = Field("features", .integer(1...100_000), default: "5", "n: input features.")
    public static let hidden = Field("hidden", .integer(1...100_000), default: "2", "m: hidden dimensions.")
    public static let sparsity = Field("sparsity", .numbers, default: "0,0.8,0.9,0.95,0.98",
                                       "S, the probability a feature is zero: one value, or a comma-separated list to sweep.")
    public static let importanceDecay = Field("importance_decay", .number(0...1), default: "0.9", "r: feature i's importance is rⁱ (1 = all equal).")
    public static let steps = Field("steps", .integer(1...JobFields.maxCount), default: "4000", "Adam steps per model.")
    public static let batch = Field("batch", .integer(1...1 << 20), default: "1024", "Rows per step.")
    public static let lr = Field("lr", .number(0...10), default: "0.01", "Adam's peak learning rate (decays along a half cosine to 0).")
    public static let seed = Field("seed", .integer(0...Int.max), default: "0", "Seed for the initial W and every batch (restart r uses seed + r).")
    public static let restarts = Field("restarts", .integer(1...10_000), default: "4",
                                       "Models trained per sparsity (seeds seed, seed + 1, ...); the lowest-loss one is kept.")
    public static let fields = [features, hidden, sparsity, importanceDecay, steps, batch, lr, seed, restarts]

    public var features: Int
    public var hidden: Int
    public var sparsities: [Double]
    public var importanceDecay: Float
    public var steps: Int
    public var batch: Int
    public var lr: Float
    public var seed: UInt64
    public var restarts: Int
    public var frontEnd = JobFrontEnd()

    public init(features: Int = 5, hidden: Int = 2, sparsities: [Double] = [0, 0.8, 0.9, 0.95, 0.98], importanceDecay: Float = 0.9,
                steps: Int = 4000, batch: Int = 1024, lr: Float = 0.01, seed: UInt64 = 0, restarts: Int = 4) {
        self.features = features
        self.hidden = hidden
        self.sparsities = sparsities
        self.importanceDecay = importanceDecay
        self.steps = steps
        self.batch = batch
        self.lr = lr
        self.seed = seed
        self.restarts = restarts
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        let seed = try json.int(Self.seed) ?? 0
        try JobFrontEnd().check(seed, Self.seed)
        self.init(features: try json.int(Self.features) ?? 5, hidden: try json.int(Self.hidden) ?? 2,
                  sparsities: try json.numbers(Self.sparsity) ?? [0, 0.8, 0.9, 0.95, 0.98],
                  importanceDecay: Float(try json.double(Self.importanceDecay) ?? 0.9), steps: try json.int(Self.steps) ?? 4000,
                  batch: try json.int(Self.batch) ?? 1024, lr: Float(try json.double(Self.lr) ?? 0.01), seed: UInt64(seed),
                  restarts: try json.int(Self.restarts) ?? 4)
    }

    public func validate() throws {
        let f = frontEnd
        try f.check(features, Self.features)
        try f.check(batch, Self.batch)
        try f.checkMemory([[8, batch, features, MemoryLayout<Float>.size]], "\(f.name(Self.batch)) \(batch) with \(f.name(Self.features)) \(features)")
        try f.check(hidden, Self.hidden)
        try f.check(steps, Self.steps)
        try f.check(lr, Self.lr, above: true)
        try f.check(restarts, Self.restarts)
        try f.check(importanceDecay, Self.importanceDecay, above: true)
        guard !sparsities.isEmpty else { throw AnalysisError.invalid("\(f.name(Self.sparsity)) needs one or more values") }
        if let bad = sparsities.first(where: { !($0 >= 0 && $0 < 1) }) {
            throw AnalysisError.invalid("\(f.name(Self.sparsity)) values must be in [0, 1) (S = 1 would never show a feature), got \(bad)")
        }
    }

    var settings: ToyModelSettings {
        ToyModelSettings(features: features, hidden: hidden, importanceDecay: importanceDecay, steps: steps, batchSize: batch,
                         learningRate: lr, seed: seed)
    }

    public func run(monitor: AnalysisMonitor) throws -> SuperpositionResult {
        let settings = self.settings
        try settings.validate()
        let started = Date()
        let subject = "training \(sparsities.count) toy model\(sparsities.count == 1 ? "" : "s") (n \(features), m \(hidden))"
        let runs = try ToyModelTrainer.sweep(settings, sparsities: sparsities, restarts: restarts, backend: CPUBackend(),
                                             concurrently: true) { done, total in try monitor.step(done, of: total, subject) }
        return SuperpositionResult(settings, restarts: restarts, runs: runs, seconds: Date().timeIntervalSince(started))
    }
}

/// The trained models under the names `superposition --json` prints: per model its loss, W, b,
/// loss curve and per-feature geometry. `settings` and `runs` keep the numbers for the table and page.
public struct SuperpositionResult: Encodable, Sendable {
    public struct Feature: Encodable, Sendable {
        public var index: Int
        public var importance: Double
        public var norm: Double
        public var represented: Bool
        /// Null for a dropped feature: its direction is noise.
        public var superposition: Double?
        public var bias: Double
        /// m = 2 only: the column's angle from the first hidden axis.
        public var angleDegrees: Double?

        enum CodingKeys: String, CodingKey { case index, importance, norm, represented, superposition, bias, angleDegrees = "angle_degrees" }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(importance, forKey: .importance)
            try c.encode(norm, forKey: .norm)
            try c.encode(represented, forKey: .represented)
            try c.encode(superposition, forKey: .superposition)  // null, not absent, for a dropped feature
            try c.encode(bias, forKey: .bias)
            try c.encodeIfPresent(angleDegrees, forKey: .angleDegrees)
        }
    }
    public struct Point: Encodable, Sendable {
        public var step: Int
        public var loss: Double
    }
    public struct Model: Encodable, Sendable {
        public var sparsity: Double
        public var featureProbability: Double
        public var seed: Int
        public var loss: Double
        public var frobeniusPerDimension: Double
        public var represented: Int
        public var representedPerDimension: Double
        /// W as rows of the hidden dimension: [m][n].
        public var weights: [[Double]]
        public var bias: [Double]
        public var lossCurve: [Point]
        public var perFeature: [Feature]
        public var note: String?

        enum CodingKeys: String, CodingKey {
            case sparsity, seed, loss, represented, note
            case featureProbability = "feature_probability", frobeniusPerDimension = "frobenius_per_dimension"
            case representedPerDimension = "represented_per_dimension", weights = "W", bias = "b", lossCurve = "loss_curve"
            case perFeature = "per_feature"
        }
    }

    public var features: Int
    public var hidden: Int
    public var importanceDecay: Double
    public var steps: Int
    public var batch: Int
    public var lr: Double
    public var seed: Int
    public var restarts: Int
    public var seconds: Double
    public var models: [Model]
    public let settings: ToyModelSettings
    public let runs: [ToyModelRun]

    init(_ s: ToyModelSettings, restarts: Int, runs: [ToyModelRun], seconds: Double) {
        features = s.features
        hidden = s.hidden
        importanceDecay = Double(s.importanceDecay)
        steps = s.steps
        batch = s.batchSize
        lr = Double(s.learningRate)
        seed = Int(truncatingIfNeeded: s.seed)
        self.restarts = restarts
        self.seconds = seconds
        models = runs.map { run in
            let g = run.geometry, m = run.model, superposition = g.representedSuperposition, angles = m.angles
            return Model(
                sparsity: run.settings.sparsity, featureProbability: 1 - run.settings.sparsity, seed: Int(truncatingIfNeeded: run.settings.seed),
                loss: run.loss, frobeniusPerDimension: g.frobeniusPerDimension, represented: g.represented,
                representedPerDimension: g.representedPerDimension,
                weights: (0..<m.hidden).map { r in (0..<m.features).map { Double(m.weights[r * m.features + $0]) } },
                bias: m.bias.map(Double.init), lossCurve: run.lossCurve.map { Point(step: $0.step, loss: $0.loss) },
                perFeature: (0..<m.features).map { i in
                    Feature(index: i, importance: Double(run.settings.importance[i]), norm: Double(g.norms[i]), represented: g.isRepresented(i),
                            superposition: superposition[i].map(Double.init), bias: Double(m.bias[i]), angleDegrees: angles?[i])
                },
                note: m.hidden == 2 ? "angle_degrees: each column of W from the first hidden axis" : nil)
        }
        settings = s
        self.runs = runs
    }

    enum CodingKeys: String, CodingKey {
        case features, hidden, steps, batch, lr, seed, restarts, seconds, models
        case importanceDecay = "importance_decay"
    }
}
