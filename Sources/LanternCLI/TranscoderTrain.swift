import CIntrinsics
import ArgumentParser
import Foundation
import Lantern
import Training

/// `lantern transcoder train`: one transcoder per chosen layer, on pairs `transcoder harvest` saved.
struct TranscoderTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a transcoder per layer: sparse features reading ln2.hook_normalized, predicting hook_mlp_out.",
        discussion: """
            Layers train one after another into OUT/layer_L_width_W_k_K[_affine]/ (the Gemma Scope 2 \
            transcoder layout: params.safetensors + config.json, plus checkpoint.safetensors and the \
            training log). A layer whose run finished is skipped; with --resume an interrupted layer \
            continues from its checkpoint, so a long set can be trained in pieces.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var training: DictionaryTrainingOptions

    @Option(name: .long, help: "A directory `lantern transcoder harvest` wrote.")
    var activations: String

    @Option(name: .long, help: "Layers: all, 3, 0,4,8 or 2-5.")
    var layers = LayerSelection(argument: "all")!

    @Flag(name: .long, help: "Add an affine skip connection x·W_skip (Gemma Scope 2's _affine transcoders).")
    var skip = false

    @Option(name: .long, help: "Output directory (one folder per layer inside).")
    var out = "transcoders"

    @Flag(name: .long, help: "Continue an interrupted layer from its checkpoint.")
    var resume = false

    /// The folder of layer l's transcoder, named as Gemma Scope 2 names its own.
    func folder(layer l: Int) -> String {
        let sparsity = training.k.map { "k_\($0)" } ?? "l0_\(Int(training.l0 ?? 0))"
        return (out as NSString).appendingPathComponent("layer_\(l)_width_\(training.width)_\(sparsity)" + (skip ? "_affine" : ""))
    }

    func run() throws {
        _ = lantern_keep_freed_memory()  // each step's large host arrays reused, not mapped afresh
        guard let manifest = try HarvestManifest.all(in: activations).first?.manifest else {
            throw ValidationError("\(activations): no harvest manifest (run lantern transcoder harvest)")
        }
        // The layers whose MLP input and output were both harvested.
        let hooks = Set(manifest.allHooks)
        let harvested = Set(hooks.map(SAELensExport.layer(ofHook:))).filter {
            hooks.contains(MLPTranscoderHooks.input($0)) && hooks.contains(MLPTranscoderHooks.output($0))
        }
        let chosen = try layers.text == "all" ? harvested.sorted() : layers.layers(of: (harvested.max() ?? -1) + 1)
        for l in chosen where !harvested.contains(l) {
            throw ValidationError("--layers: \(activations) holds no MLP input and output of layer \(l) (it has layers \(harvested.sorted().map(String.init).joined(separator: ",")))")
        }
        let backend = try model.makeBackend()
        for l in chosen {
            let input = try HarvestedActivations(directory: activations, hook: MLPTranscoderHooks.input(l))
            let target = try HarvestedActivations(directory: activations, hook: MLPTranscoderHooks.output(l))
            try train(layer: l, input: input, target: target, backend: backend)
        }
    }

    func train(layer l: Int, input: HarvestedActivations, target: HarvestedActivations, backend: any Backend) throws {
        let dir = folder(layer: l)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let checkpoint = (dir as NSString).appendingPathComponent("checkpoint.safetensors")
        let source = try training.trainingRows(input)
        let targets = try training.trainingRows(target)
        let trainer: SAETrainer
        if try TrainingRun.fileExists(checkpoint) {
            guard resume else { throw ValidationError("\(checkpoint) exists: pass --resume to continue it, or another --out") }
            trainer = try SAETrainer.resume(checkpoint: checkpoint, source: source, targets: targets, backend: backend)
            try TrainingRun.checkResume(trainer, options: training, activations: activations, rows: source.rowCount, folder: dir,
                                        skip: skip)
            if trainer.isFinished, FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("params.safetensors")) {
                note("layer \(l): done (\(dir))")
                return
            }
        } else {
            var settings = training.settings(inputWidth: source.width)
            settings.transcoder = true
            settings.skipConnection = skip
            try training.checkMemory(inputWidth: source.width, skip: skip)
            trainer = try SAETrainer(settings: settings, source: source, targets: targets, backend: backend)
            try TrainingRun(activations: activations, rows: source.rowCount).save(folder: dir)
        }
        TrainingRun.warnAboutPasses(tokens: trainer.settings.tokens, rows: source.rowCount, held: input.rowCount - source.rowCount)
        note("layer \(l): \(trainer.settings.architecture.rawValue) transcoder \(source.width) → \(trainer.settings.width)"
             + (trainer.settings.skipConnection ? " + skip" : "") + " on \(source.rowCount) rows; step \(trainer.step) of \(trainer.totalSteps)")
        let (last, seconds, trained) = try TrainingLog.run(
            trainer, out: dir, checkpoint: checkpoint, resumed: trainer.step > 0, checkpointEvery: training.checkpointEvery,
            title: "layer \(l) transcoder, \(trainer.settings.width) latents", label: "layer \(l)")
        try exportTranscoder(trainer, layer: l, to: dir, modelName: input.modelName, l0: last?.l0)
        if let last {
            note(String(format: "layer %d: last batch FVU %.3f, L0 %.1f, dead %.1f%%; %d tokens in %.0fs",
                        l, last.reconstructionLoss, last.l0, trainer.deadFraction * 100, trained, seconds))
        }
    }

    /// The trained transcoder with its normalisation folded in, as Gemma Scope 2 stores one (f16).
    func exportTranscoder(_ trainer: SAETrainer, layer l: Int, to dir: String, modelName: String, l0: Double?) throws {
        let s = trainer.settings, d = trainer.parameters.inputWidth
        let folded = FoldedTranscoder(trainer.parameters)
        let activation: SAEActivation = switch s.architecture {
        case .topk: .topK(s.k)
        case .jumprelu: .jumpReLU
        case .relu: .relu
        }
        let config = TranscoderConfig(dIn: d, dSAE: s.width, dOut: d, activation: activation,
                                      inputHook: MLPTranscoderHooks.input(l), outputHook: MLPTranscoderHooks.output(l))
        let weights = TranscoderWeights(wEnc: folded.wEnc, wDec: folded.wDec, bEnc: folded.bEnc, bDec: folded.bDec,
                                        threshold: folded.threshold, skip: folded.skip)
        try GemmaScope2.writeTranscoder(
            config: config, weights: weights,
            // The registry's name for a model from the cache, not this machine's path to it.
            modelName: ModelStore.known.first { modelName.hasSuffix("/" + $0.fileName) }?.name ?? modelName,
            l0: l0, dtype: .f16,
            training: ["tokens": s.tokens, "batch_size": s.batchSize, "learning_rate": Double("\(s.learningRate)") ?? 0,
                       "seed": Int(s.seed), "normalization": s.normalization.rawValue, "rows": trainer.source.rowCount,
                       "activations": (activations as NSString).lastPathComponent, "trainer": "lantern transcoder train"],
            to: dir)
    }
}
