import CIntrinsics
import ArgumentParser
import Foundation
import Lantern
import Training

/// `lantern sae train`: a TopK, JumpReLU or ReLU SAE on harvested activations, saved for SAELens.
struct SAETrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a sparse autoencoder on one hook's activations (output in SAELens format).",
        discussion: """
            Reads activations that `lantern harvest` wrote (--activations DIR), or harvests --tokens rows \
            into OUT/activations first. Writes OUT/checkpoint.safetensors every --checkpoint-every steps \
            (continue with --resume) and, at the end, OUT/cfg.json + OUT/sae_weights.safetensors.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions
    @OptionGroup var training: DictionaryTrainingOptions

    @Option(name: .long, help: "The hook the SAE reads (e.g. blocks.6.hook_resid_post).")
    var hook: String

    @Option(name: .long, help: "A directory `lantern harvest` wrote.")
    var activations: String?

    @Option(name: .long, help: "Output directory.")
    var out = "sae"

    @Flag(name: .long, help: "Continue from OUT/checkpoint.safetensors.")
    var resume = false

    @Option(name: .long, help: "Tokens per context when harvesting first (without --activations).")
    var context = 128

    func run() throws {
        _ = lantern_keep_freed_memory()  // each step's large host arrays reused, not mapped afresh
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // With harvested activations the model itself is not needed, only a backend.
        let (harvested, backend) = try activationsAndBackend()
        guard harvested.hook == hook else {
            throw ValidationError("\(activations ?? out) holds \(harvested.hook), not --hook \(hook)")
        }
        let source = try training.trainingRows(harvested)
        let checkpoint = (out as NSString).appendingPathComponent("checkpoint.safetensors")
        let trainer: SAETrainer
        if resume {
            guard try TrainingRun.fileExists(checkpoint) else { throw ValidationError("--resume: no \(checkpoint)") }
            trainer = try SAETrainer.resume(checkpoint: checkpoint, source: source, backend: backend)
            try TrainingRun.checkResume(trainer, options: training, activations: activations ?? (out as NSString).appendingPathComponent("activations"),
                                        rows: source.rowCount, folder: out)
            note("resuming at step \(trainer.step) of \(trainer.totalSteps)")
        } else {
            guard try !TrainingRun.fileExists(checkpoint) else {
                throw ValidationError("\(checkpoint) exists: pass --resume to continue it, or another --out")
            }
            let settings = training.settings(inputWidth: source.width)
            try training.checkMemory(inputWidth: source.width)
            trainer = try SAETrainer(settings: settings, source: source, backend: backend)
            try TrainingRun(activations: activations ?? (out as NSString).appendingPathComponent("activations"), rows: source.rowCount)
                .save(folder: out)
        }
        TrainingRun.warnAboutPasses(tokens: trainer.settings.tokens, rows: source.rowCount, held: harvested.rowCount - source.rowCount)
        note("\(trainer.settings.architecture.rawValue) SAE \(source.width) → \(trainer.settings.width) on \(source.rowCount) rows of \(hook); \(trainer.totalSteps) steps of \(trainer.settings.batchSize)")

        let (last, seconds, trained) = try TrainingLog.run(
            trainer, out: out, checkpoint: checkpoint, resumed: resume, checkpointEvery: training.checkpointEvery,
            title: "\(trainer.settings.architecture.rawValue) SAE \(source.width) → \(trainer.settings.width), \(hook)")
        try SAELensExport.write(
            trainer.parameters, architecture: trainer.settings.architecture, k: trainer.settings.k,
            description: .init(hookName: hook, hookLayer: SAELensExport.layer(ofHook: hook), modelName: harvested.modelName,
                               contextSize: harvested.context, dataset: activations ?? corpus.corpus.joined(separator: ",")),
            training: ["tokens": trainer.settings.tokens, "batch_size": trainer.settings.batchSize, "seed": Int(trainer.settings.seed),
                       "normalization": trainer.settings.normalization.rawValue, "k": trainer.settings.k,
                       "learning_rate": Double("\(trainer.settings.learningRate)") ?? 0, "final_sparsity_coefficient": trainer.sparsityCoefficient],
            to: out)
        if let last {
            note(String(format: "last batch: loss %.4f, L0 %.1f, explained variance %.3f, dead %.1f%%",
                        last.loss, last.l0, last.explainedVariance, trainer.deadFraction * 100))
        }
        // The training batch flatters an SAE that has seen its rows many times: rows it never saw say more.
        if source.rowCount < harvested.rowCount {
            let held = source.rowCount..<min(harvested.rowCount, source.rowCount + 8192)
            let r = try trainer.evaluate(harvested, rows: held)
            note(String(format: "held out (rows %d..<%d, not trained on): L0 %.1f, explained variance %.3f",
                        held.lowerBound, held.upperBound, r.l0, r.explainedVariance))
        } else {
            note("held out: none (every row was trained on; --rows N keeps the rest back and reports them here)")
        }
        note(String(format: "trained on %d tokens in %.1fs (%.0f tokens/s); wrote %@/cfg.json and sae_weights.safetensors",
                    trained, seconds, seconds > 0 ? Double(trained) / seconds : 0, out))
    }

    func activationsAndBackend() throws -> (HarvestedActivations, any Backend) {
        if let activations { return (try HarvestedActivations(directory: activations), try model.makeBackend(manyPasses: true)) }
        let loaded = try model.load(manyPasses: true)
        let directory = (out as NSString).appendingPathComponent("activations")
        let options = try HarvestOptions.parse(["--hook", hook, "--tokens", "\(training.tokens)", "--context", "\(context)"])
        try options.run(loaded, corpus: corpus, output: directory)
        return (try HarvestedActivations(directory: directory), loaded.backend)
    }
}

/// The loss curve of a training run, one CSV row per step (step, tokens, loss, L0, explained
/// variance, dead fraction), rewritten with each checkpoint so that it always matches the
/// checkpoint a resumed run starts from; and its plot.
struct TrainingLog {
    /// Steps `trainer` to the end with a progress bar, a checkpoint (and the log) every
    /// `checkpointEvery` steps and at the end, and the loss plot; returns the last batch's result,
    /// the seconds it took and the tokens it trained on.
    static func run(_ trainer: SAETrainer, out: String, checkpoint: String, resumed: Bool, checkpointEvery: Int,
                    title: String, label: String = "train") throws -> (SAEBatchResult?, Double, Int) {
        var log = try TrainingLog(path: (out as NSString).appendingPathComponent("training-log.csv"),
                                  resumingAt: resumed ? trainer.step : 0)
        let bar = Progress(total: trainer.totalSteps, label: label)
        let firstStep = trainer.step
        var last: SAEBatchResult?
        while !trainer.isFinished {
            last = try trainer.trainStep()
            guard last!.loss.isFinite else {
                throw LanternError.invalidArgument("training diverged at step \(trainer.step): the loss is \(last!.loss) (--lr \(trainer.settings.learningRate) too large?); \(checkpoint) keeps the last finite state")
            }
            let rate = Double((trainer.step - firstStep) * trainer.settings.batchSize) / max(Date().timeIntervalSince(bar.start), 1e-9)
            bar.update(trainer.step, detail: String(format: "loss %.4f L0 %.1f EV %.3f dead %.1f%% %.0f tokens/s",
                                                    last!.loss, last!.l0, last!.explainedVariance, trainer.deadFraction * 100, rate))
            log.append(step: trainer.step, tokens: trainer.step * trainer.settings.batchSize, last!, dead: trainer.deadFraction)
            if trainer.step % checkpointEvery == 0 || trainer.isFinished {
                // Never save (nor export) NaN: a step can leave the weights non-finite with a finite loss.
                if let bad = trainer.parameters.tensors.first(where: { firstNonFinite($0.values) != nil }) {
                    throw LanternError.invalidArgument("training diverged by step \(trainer.step): the \(bad.name) weights are not finite (--lr \(trainer.settings.learningRate) too large?); \(checkpoint) keeps the last finite state")
                }
                try trainer.state.save(path: checkpoint)
                try log.save()
            }
        }
        bar.finish()
        try log.save()
        try log.plot(title: title, to: (out as NSString).appendingPathComponent("training.svg"))
        return (last, Date().timeIntervalSince(bar.start), (trainer.step - firstStep) * trainer.settings.batchSize)
    }

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
