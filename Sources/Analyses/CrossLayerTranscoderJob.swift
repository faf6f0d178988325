import Foundation
import Lantern
import Training

/// `lantern transcoder train --cross-layer`: one cross-layer transcoder over layers 0…n−1 of a
/// `transcoder harvest`, trained into OUT itself (params_layer_{i}.safetensors + config.json, the
/// Gemma Scope 2 `clt/` layout, beside checkpoint.safetensors, run.json and training-log.csv).
extension TranscoderTrainRequest {
    /// Refuses a run whose parameters with their gradients and Adam's moments, and a batch's
    /// arrays, would need more than `memoryGB` (this machine's memory without it), before anything
    /// is allocated. Returns the bytes needed.
    @discardableResult
    func checkCrossLayerMemory(layers n: Int, inputWidth d: Int) throws -> Int {
        let f = frontEnd
        let budget = memoryGB.map { $0 * 1e9 } ?? Double(ProcessInfo.processInfo.physicalMemory)
        let what = "a cross-layer transcoder over \(n) layers (\(n * (n + 1) / 2) decoder blocks) with \(f.name(DictionaryTraining.width)) \(training.width) and \(f.name(DictionaryTraining.batch)) \(training.batch) on \(d)-wide rows"
        let floats = CrossLayerTrainer.floatsNeeded(layers: n, width: training.width, inputWidth: d, batch: training.batch)
        let (bytes, overflow) = (floats ?? Int.max).multipliedReportingOverflow(by: MemoryLayout<Float>.size)
        let budgetText = String(format: "%.3g GB", budget / 1e9) + (memoryGB == nil ? " (this machine's memory)" : " (\(f.name(Self.memoryGB)))")
        guard floats != nil, !overflow, Double(bytes) <= budget else {
            let needed = floats == nil || overflow ? "more than 2^63 bytes" : String(format: "%.3g GB", Double(bytes) / 1e9)
            throw AnalysisError.invalid("\(what) needs \(needed), more than the budget of \(budgetText): fewer latents, a smaller batch, or a larger \(f.name(Self.memoryGB))")
        }
        return bytes
    }

    func trainCrossLayer(harvested: Set<Int>, hooks: Set<String>, monitor: AnalysisMonitor) throws -> TranscoderTrainResult {
        let f = frontEnd
        if skip { throw AnalysisError.invalid("\(f.name(Self.crossLayer)) has no affine skip: leave out \(f.name(Self.skip))") }
        if training.architecture != .topk {
            throw AnalysisError.invalid("\(f.name(Self.crossLayer)) trains TopK only: give \(f.name(DictionaryTraining.k)) K")
        }
        // Layers 0…n−1, as the Gemma Scope 2 layout numbers them.
        let chosen = layers.isAll ? harvested.sorted() : try layers.layers(of: (harvested.max() ?? -1) + 1, f)
        guard chosen == Array(0..<chosen.count), chosen.allSatisfy(harvested.contains) else {
            throw AnalysisError.invalid("\(f.name(Self.crossLayer)) needs the MLP inputs and outputs of layers 0…n−1 without a gap: \(activations) has layers \(harvested.sorted().map(String.init).joined(separator: ","))\(layers.isAll ? "" : " and \(f.name(LayerSelection.field)) is \(layers.text)")")
        }
        let inputHooks = chosen.map { l in MLPTranscoderHooks.inputs(l).first(where: hooks.contains)! }
        let harvestedInputs = try inputHooks.map { try HarvestedActivations(directory: activations, hook: $0) }
        let inputs = try harvestedInputs.map { try training.trainingRows($0, f) }
        let targets = try chosen.map { try training.trainingRows(try HarvestedActivations(directory: activations, hook: MLPTranscoderHooks.output($0)), f) }
        let heldBack = harvestedInputs[0].rowCount - inputs[0].rowCount
        let modelName = harvestedInputs[0].modelName
        let backend = try model.makeBackend(manyPasses: false, f)
        let checkpoint = (out as NSString).appendingPathComponent("checkpoint.safetensors")
        let d = inputs[0].width
        let trainer: CrossLayerTrainer
        if try TrainingRun.fileExists(checkpoint) {
            guard resume else {
                throw AnalysisError.invalid("\(checkpoint) exists: pass \(f.name(Self.resume)) to continue it, or another \(f.name(Self.out))")
            }
            trainer = try CrossLayerTrainer.resume(checkpoint: checkpoint, inputs: inputs, targets: targets, backend: backend)
            try checkCrossLayerResume(trainer)
        } else {
            try checkCrossLayerMemory(layers: chosen.count, inputWidth: d)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            var settings = training.settings(inputWidth: d)
            settings.transcoder = true
            trainer = try CrossLayerTrainer(settings: settings, inputs: inputs, targets: targets, backend: backend)
            try TrainingRun(activations: activations, rows: inputs[0].rowCount).save(folder: out)
        }
        let s = trainer.settings, n = chosen.count
        let done = trainer.isFinished && FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent("params_layer_0.safetensors"))
        TrainingRun.warnAboutPasses(tokens: s.tokens, rows: trainer.rowCount, held: heldBack, f)
        f.notice("cross-layer transcoder: \(n) layers, \(d) → \(s.width) latents each, TopK \(s.k), on \(trainer.rowCount) rows; step \(trainer.step) of \(trainer.totalSteps)")
        var log = CrossLayerLog(path: (out as NSString).appendingPathComponent("training-log.csv"), layers: n,
                                    resumingAt: trainer.step)
        let loop = TrainingLoop(trainer: trainer, out: out, checkpoint: checkpoint, checkpointEvery: training.checkpointEvery, frontEnd: f)
        let (last, seconds, trained) = try loop.run(log: &log, subject: "cross-layer transcoder", monitor: monitor)
        if !done { try exportCrossLayer(trainer, inputHook: inputHooks[0], modelName: modelName) }
        if let last {
            f.notice(String(format: "cross-layer transcoder: last batch FVU per layer %@ (mean %.3f), L0 %.1f, dead %.1f%%; %d tokens in %.0fs",
                            last.fvu.map { String(format: "%.3f", $0) }.joined(separator: " "), last.meanFVU,
                            last.l0.reduce(0, +) / Double(n), trainer.deadFraction * 100, trained, seconds))
        } else if done {
            f.notice("cross-layer transcoder: done (\(out))")
        }
        let layers = chosen.map { l in
            TranscoderTrainResult.Layer(layer: l, folder: out, done: done, step: trainer.step, totalSteps: trainer.totalSteps,
                                        lastBatch: last.map { SAETrainResult.Batch(fvu: $0.fvu[l], l0: $0.l0[l]) },
                                        deadFraction: Double(trainer.rowsSinceFired[l].filter { $0 >= s.deadAfterTokens }.count) / Double(s.width),
                                        trainedTokens: trained, seconds: seconds)
        }
        return TranscoderTrainResult(out: out, layers: layers, crossLayer: true)
    }

    /// A resumed run must be the checkpoint's: the same settings and the same rows.
    func checkCrossLayerResume(_ trainer: CrossLayerTrainer) throws {
        let f = frontEnd
        var differences = training.differences(from: trainer.settings, f)
        if try TrainingRun.fileExists(TrainingRun.file(in: out)) {
            let saved = try TrainingRun.load(folder: out), now = TrainingRun(activations: activations, rows: trainer.rowCount)
            if now.activations != saved.activations {
                differences.append("\(f.name(JobFields.activations)) \(now.activations) (checkpoint: \(saved.activations))")
            }
            if now.rows != saved.rows {
                differences.append("\(now.rows) rows (checkpoint: \(saved.rows); \(f.name(DictionaryTraining.rows)) or the harvest changed)")
            }
        }
        guard differences.isEmpty else {
            throw AnalysisError.invalid("\(f.name(Self.resume)): this command differs from the checkpoint's run: \(differences.joined(separator: "; ")) — repeat the original command, or train into another \(f.name(Self.out))")
        }
    }

    /// The trained transcoder, its normalisation folded in, as Gemma Scope 2 stores a `clt/` folder (f16).
    func exportCrossLayer(_ trainer: CrossLayerTrainer, inputHook: String, modelName: String) throws {
        let s = trainer.settings, d = trainer.parameters.inputWidth
        let site = String(inputHook.drop { $0 != "." }.dropFirst().drop { $0 != "." }.dropFirst())
        try GemmaScope2.writeCrossLayerTranscoder(
            layers: trainer.parameters.folded(), dIn: d, dSAE: s.width, dOut: d, activation: .topK(s.k),
            inputHook: "blocks.0.\(site)", outputHook: MLPTranscoderHooks.output(0),
            modelName: ModelStore.known.first { modelName.hasSuffix("/" + $0.fileName) }?.name ?? modelName, dtype: .f16,
            training: ["tokens": s.tokens, "batch_size": s.batchSize, "learning_rate": Double("\(s.learningRate)") ?? 0,
                       "seed": Int(s.seed), "normalization": s.normalization.rawValue, "rows": trainer.rowCount,
                       "activations": (activations as NSString).lastPathComponent, "trainer": "lantern transcoder train --cross-layer"],
            to: out)
    }
}

extension SAETrainResult.Batch {
    /// One output layer of a cross-layer batch.
    init(fvu: Double, l0: Double) {
        loss = nil
        self.l0 = finite(l0)
        self.fvu = finite(fvu)
        explainedVariance = finite(1 - fvu)
    }
}

extension CrossLayerTrainer: SteppedTrainer {
    var parameterTensors: [(name: String, values: [Float])] { parameters.tensors }
    func saveCheckpoint(path: String) throws { try state.save(path: path) }
    static func loss(of batch: CrossLayerBatchResult) -> Double { batch.loss }
    func progressDetail(_ r: CrossLayerBatchResult) -> String {
        String(format: "loss %.4f FVU %@ L0 %.1f dead %.1f%%", r.loss, r.fvu.map { String(format: "%.2f", $0) }.joined(separator: " "),
               r.l0.reduce(0, +) / Double(max(r.l0.count, 1)), deadFraction * 100)
    }
}

/// A cross-layer run's loss curve, one CSV row per step (each output layer's FVU among the columns).
struct CrossLayerLog: StepLog {
    var csv: StepCSV

    init(path: String, layers n: Int, resumingAt step: Int) {
        csv = StepCSV(path: path, header: "step,tokens,loss,aux_loss,mean_fvu," + (0..<n).map { "fvu_\($0)" }.joined(separator: ",") + ",l0,dead_fraction",
                      resumingAt: step)
    }

    mutating func append(step: Int, tokens: Int, _ r: CrossLayerBatchResult, dead: Double) {
        let fvu = r.fvu.map { String(format: "%.5f", $0) }.joined(separator: ",")
        csv.rows.append(String(format: "%d,%d,%.6g,%.6g,%.5f,%@,%.3f,%.5f", step, tokens, r.loss, r.auxLoss, r.meanFVU, fvu,
                               r.l0.reduce(0, +) / Double(max(r.l0.count, 1)), dead))
    }

    func save() throws { try csv.save() }
}
