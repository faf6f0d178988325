import Foundation
import Lantern
import Training

/// The step loop SAE and transcoder training share: a progress report per step, a checkpoint
/// (and the loss log) every `checkpointEvery` steps and at the end, and the loss plot.
struct TrainingLoop {
    let trainer: SAETrainer
    let out: String
    let checkpoint: String
    let checkpointEvery: Int
    let frontEnd: JobFrontEnd

    /// Steps the trainer to the end; returns the last batch's result, the seconds it took and the
    /// tokens it trained on. `resumed`: the log keeps the rows up to the trainer's step. When the
    /// monitor stops the run (a cancel), the state is saved first, so that a resumed run
    /// continues from this very step.
    func run(resumed: Bool, title: String, subject: String, monitor: AnalysisMonitor) throws -> (SAEBatchResult?, Double, Int) {
        var log = try TrainingLog(path: (out as NSString).appendingPathComponent("training-log.csv"),
                                  resumingAt: resumed ? trainer.step : 0)
        let start = Date()
        let firstStep = trainer.step
        let batch = trainer.settings.batchSize
        var last: SAEBatchResult?
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
            guard result.loss.isFinite else {
                throw LanternError.invalidArgument("training diverged at step \(trainer.step): the loss is \(result.loss) (\(lrTooLarge)); \(checkpoint) keeps the last finite state")
            }
            log.append(step: trainer.step, tokens: trainer.step * batch, result, dead: trainer.deadFraction)
            if trainer.step % checkpointEvery == 0 || trainer.isFinished { try save(&log) }
            let rate = Double((trainer.step - firstStep) * batch) / max(Date().timeIntervalSince(start), 1e-9)
            try report(String(format: "loss %.4f L0 %.1f EV %.3f dead %.1f%% %.0f tokens/s",
                              result.loss, result.l0, result.explainedVariance, trainer.deadFraction * 100, rate))
        }
        try log.save()
        try log.plot(title: title, to: (out as NSString).appendingPathComponent("training.svg"))
        return (last, Date().timeIntervalSince(start), (trainer.step - firstStep) * batch)
    }

    private var lrTooLarge: String { "\(frontEnd.name(DictionaryTraining.lr)) \(trainer.settings.learningRate) too large?" }

    /// The checkpoint and the log that matches it. Never NaN: a step can leave the weights
    /// non-finite with a finite loss.
    private func save(_ log: inout TrainingLog) throws {
        if let bad = trainer.parameters.tensors.first(where: { firstNonFinite($0.values) != nil }) {
            throw LanternError.invalidArgument("training diverged by step \(trainer.step): the \(bad.name) weights are not finite (\(lrTooLarge)); \(checkpoint) keeps the last finite state")
        }
        try trainer.state.save(path: checkpoint)
        try log.save()
    }
}

/// The loss curve of a training run, one CSV row per step (step, tokens, loss, L0, explained
/// variance, dead fraction), rewritten with each checkpoint so that it always matches the
/// checkpoint a resumed run starts from; and its plot.
struct TrainingLog {
    static let header = "step,tokens,loss,l0,explained_variance,dead_fraction"
    let path: String
    var rows: [String]

    init(path: String, resumingAt step: Int) throws {
        self.path = path
        rows = []
        guard step > 0, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        rows = text.split(separator: "\n").dropFirst().map(String.init).filter { line in
            Int(line.prefix { $0 != "," }).map { $0 <= step } ?? false
        }
    }

    mutating func append(step: Int, tokens: Int, _ r: SAEBatchResult, dead: Double) {
        rows.append(String(format: "%d,%d,%.6g,%.3f,%.5f,%.5f", step, tokens, r.loss, r.l0, r.explainedVariance, dead))
    }

    func save() throws {
        try ([Self.header] + rows).joined(separator: "\n").appending("\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Loss and 1 − explained variance against tokens seen, log-log.
    func plot(title: String, to file: String) throws {
        let fields = rows.map { $0.split(separator: ",").compactMap { Double($0) } }.filter { $0.count == 6 }
        var plot = SVGPlot(title: title, xLabel: "training tokens", yLabel: "per batch", logX: true, logY: true)
        plot.series = [
            .init(label: "loss", points: fields.map { ($0[1], $0[2]) }, color: "#c03030", dots: false),
            .init(label: "1 − explained variance", points: fields.map { ($0[1], 1 - $0[4]) }, color: "#3060c0", dots: false),
        ]
        try plot.svg.write(toFile: file, atomically: true, encoding: .utf8)
    }
}

/// A figure for a result's JSON, which has no NaN or ±∞ (an SAE on constant rows has no
/// explained variance): nil then.
func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }
