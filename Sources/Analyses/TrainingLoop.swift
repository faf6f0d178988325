import Foundation
import Lantern
import Training

/// What the step loop needs of a trainer: SAEs, per-layer and cross-layer transcoders.
protocol SteppedTrainer: AnyObject {
    associatedtype Batch
    var step: Int { get }
    var totalSteps: Int { get }
    var isFinished: Bool { get }
    var settings: SAETrainingSettings { get }
    var deadFraction: Double { get }
    func trainStep() throws -> Batch
    /// The named parameter tensors, checked for finite values before each checkpoint.
    var parameterTensors: [(name: String, values: [Float])] { get }
    func saveCheckpoint(path: String) throws
    static func loss(of batch: Batch) -> Double
    /// The step's figures for the progress line (the loop adds the rate).
    func progressDetail(_ batch: Batch) -> String
}

/// A run's loss log, rewritten with each checkpoint so that it matches the checkpoint a resumed
/// run starts from.
protocol StepLog {
    associatedtype Batch
    mutating func append(step: Int, tokens: Int, _ batch: Batch, dead: Double)
    func save() throws
}

/// The step loop every dictionary trainer shares: a progress report per step, a checkpoint (and
/// the loss log) every `checkpointEvery` steps and at the end, and a guard against divergence.
struct TrainingLoop<Trainer: SteppedTrainer> {
    let trainer: Trainer
    let out: String
    let checkpoint: String
    let checkpointEvery: Int
    let frontEnd: JobFrontEnd

    /// Steps the trainer to the end; returns the last batch's result, the seconds it took and the
    /// tokens it trained on. When the monitor stops the run (a cancel), the state is saved first,
    /// so that a resumed run continues from this very step.
    func run<Log: StepLog>(log: inout Log, subject: String, monitor: AnalysisMonitor) throws -> (Trainer.Batch?, Double, Int)
    where Log.Batch == Trainer.Batch {
        let start = Date()
        let firstStep = trainer.step
        let batch = trainer.settings.batchSize
        var last: Trainer.Batch?
        func report(_ detail: String) throws {
            do {
                try monitor.step(trainer.step, of: trainer.totalSteps, JobProgress.label(subject, detail))
            } catch {
                try save(&log)
                throw error
            }
        }
        try report("")
        while !trainer.isFinished {
            let result = try trainer.trainStep()
            last = result
            let loss = Trainer.loss(of: result)
            guard loss.isFinite else {
                throw LanternError.invalidArgument("training diverged at step \(trainer.step): the loss is \(loss) (\(lrTooLarge)); \(checkpoint) keeps the last finite state")
            }
            log.append(step: trainer.step, tokens: trainer.step * batch, result, dead: trainer.deadFraction)
            if trainer.step % checkpointEvery == 0 || trainer.isFinished { try save(&log) }
            let rate = Double((trainer.step - firstStep) * batch) / max(Date().timeIntervalSince(start), 1e-9)
            try report(trainer.progressDetail(result) + String(format: " %.0f tokens/s", rate))
        }
        try log.save()
        return (last, Date().timeIntervalSince(start), (trainer.step - firstStep) * batch)
    }

    private var lrTooLarge: String { "\(frontEnd.name(DictionaryTraining.lr)) \(trainer.settings.learningRate) too large?" }

    /// The checkpoint and the log that matches it. Never NaN: a step can leave the weights
    /// non-finite with a finite loss.
    private func save<Log: StepLog>(_ log: inout Log) throws {
        if let bad = trainer.parameterTensors.first(where: { firstNonFinite($0.values) != nil }) {
            throw LanternError.invalidArgument("training diverged by step \(trainer.step): the \(bad.name) weights are not finite (\(lrTooLarge)); \(checkpoint) keeps the last finite state")
        }
        try trainer.saveCheckpoint(path: checkpoint)
        try log.save()
    }
}

extension TrainingLoop where Trainer == SAETrainer {
    /// An SAE's or per-layer transcoder's run, its log in `training-log.csv` and its curve in
    /// `training.svg`. `resumed`: the log keeps the rows up to the trainer's step.
    func run(resumed: Bool, title: String, subject: String, monitor: AnalysisMonitor) throws -> (SAEBatchResult?, Double, Int) {
        var log = TrainingLog(path: (out as NSString).appendingPathComponent("training-log.csv"),
                                  resumingAt: resumed ? trainer.step : 0)
        let result = try run(log: &log, subject: subject, monitor: monitor)
        try log.plot(title: title, to: (out as NSString).appendingPathComponent("training.svg"))
        return result
    }
}

extension SAETrainer: SteppedTrainer {
    var parameterTensors: [(name: String, values: [Float])] { parameters.tensors }
    func saveCheckpoint(path: String) throws { try state.save(path: path) }
    static func loss(of batch: SAEBatchResult) -> Double { batch.loss }
    func progressDetail(_ r: SAEBatchResult) -> String {
        String(format: "loss %.4f L0 %.1f EV %.3f dead %.1f%%", r.loss, r.l0, r.explainedVariance, deadFraction * 100)
    }
}

/// The loss curve of a training run, one CSV row per step (step, tokens, loss, L0, explained
/// variance, dead fraction), and its plot.
struct TrainingLog: StepLog {
    var csv: StepCSV

    init(path: String, resumingAt step: Int) {
        csv = StepCSV(path: path, header: "step,tokens,loss,l0,explained_variance,dead_fraction", resumingAt: step)
    }

    mutating func append(step: Int, tokens: Int, _ r: SAEBatchResult, dead: Double) {
        csv.rows.append(String(format: "%d,%d,%.6g,%.3f,%.5f,%.5f", step, tokens, r.loss, r.l0, r.explainedVariance, dead))
    }

    func save() throws { try csv.save() }

    /// Loss and 1 − explained variance against tokens seen, log-log.
    func plot(title: String, to file: String) throws {
        let fields = csv.fields(count: 6)
        var plot = SVGPlot(title: title, xLabel: "training tokens", yLabel: "per batch", logX: true, logY: true)
        plot.series = [
            .init(label: "loss", points: fields.map { ($0[1], $0[2]) }, color: "#c03030", dots: false),
            .init(label: "1 − explained variance", points: fields.map { ($0[1], 1 - $0[4]) }, color: "#3060c0", dots: false),
        ]
        try plot.svg.write(toFile: file, atomically: true, encoding: .utf8)
    }
}

/// One CSV row per training step, rewritten with each checkpoint so that it matches the checkpoint
/// a resumed run starts from: a resumed run keeps the rows up to its step.
struct StepCSV {
    let path: String
    let header: String
    var rows: [String] = []

    init(path: String, header: String, resumingAt step: Int) {
        (self.path, self.header) = (path, header)
        guard step > 0, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        rows = text.split(separator: "\n").dropFirst().map(String.init).filter { line in
            Int(line.prefix { $0 != "," }).map { $0 <= step } ?? false
        }
    }

    func save() throws {
        try ([header] + rows).joined(separator: "\n").appending("\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The rows' numbers, for the rows that hold `count` of them.
    func fields(count: Int) -> [[Double]] {
        rows.map { $0.split(separator: ",").compactMap { Double($0) } }.filter { $0.count == count }
    }
}

/// A figure for a result's JSON, which has no NaN or ±∞ (an SAE on constant rows has no
/// explained variance): nil then.
func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }
