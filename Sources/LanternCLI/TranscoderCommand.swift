import ArgumentParser
import Foundation
import Lantern
import Models
import Training

/// `lantern transcoder`: MLP transcoders — sparse features that read an MLP's input and write its
/// output — harvested, trained and evaluated per layer.
struct TranscoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcoder",
        abstract: "Per-layer MLP transcoders: harvest (input, output) pairs, train, evaluate.",
        subcommands: [TranscoderHarvest.self, TranscoderTrain.self, TranscoderEval.self]
    )
}

/// Which layers a transcoder command works on: `all`, `3`, `0,4,8` or `2-5`.
struct LayerSelection: ExpressibleByArgument {
    let text: String
    init?(argument: String) { text = argument }

    func layers(of model: Int) throws -> [Int] {
        if text == "all" { return Array(0..<model) }
        var layers: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(ends.count), let lo = ends.first!, let hi = ends.last!, lo <= hi else {
                throw ValidationError("--layers: '\(part)' is not a layer or a range like 2-5 (in '\(text)')")
            }
            guard lo >= 0, hi < model else {
                throw ValidationError("--layers: \(part) is outside 0..<\(model) (the model's layers)")
            }
            if let repeated = (lo...hi).first(where: layers.contains) {
                throw ValidationError("--layers names layer \(repeated) twice in '\(text)'")
            }
            layers += Array(lo...hi)
        }
        return layers
    }
}

/// `lantern transcoder harvest`: every chosen layer's MLP input and output from one forward pass.
struct TranscoderHarvest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "harvest",
        abstract: "Save every layer's MLP input (ln2.hook_normalized) and output (hook_mlp_out) over a corpus.",
        discussion: """
            One forward pass per context reads all the chosen layers at once, so N tokens cost one \
            harvest, not one per layer. Storage: tokens × layers × 2 × d_model × 4 bytes (Gemma 3 270M, \
            300k tokens, 18 layers: 28 GB); resumable and splittable like `lantern harvest`.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: "Activation rows (tokens) to collect.")
    var tokens: Int

    @Option(name: .long, help: "Layers: all, 3, 0,4,8 or 2-5.")
    var layers = LayerSelection(argument: "all")!

    @Option(name: .long, help: "Tokens per context, BOS included.")
    var context = 128

    @Option(name: .long, help: "Contexts per shard file.")
    var batch = 16

    @Option(name: .long, help: "Output directory.")
    var out: String

    func validate() throws {
        try OptionCheck.integer(tokens, "--tokens", 1...OptionCheck.maxCount)
        try OptionCheck.integer(context, "--context", 2...1 << 20)
        try OptionCheck.integer(batch, "--batch", 1...1_000_000)
    }

    func run() throws {
        let loaded = try model.load(manyPasses: true)
        let chosen = try layers.layers(of: loaded.transformer.config.layerCount)
        let hooks = chosen.flatMap { [MLPTranscoderHooks.input($0), MLPTranscoderHooks.output($0)] }
        let harvester = try Harvester(
            model: loaded.transformer, modelName: loaded.source, packer: try corpus.packer(for: loaded, length: context),
            options: .init(hooks: hooks, tokens: tokens, context: context, contextsPerShard: batch))
        var bar: Progress?
        var firstRows = 0
        let manifest = try harvester.run(output: out) { done, total in
            if bar == nil { bar = Progress(total: total, label: "harvest \(chosen.count) layers"); firstRows = done }
            let seconds = Date().timeIntervalSince(bar!.start)
            bar!.update(done, detail: String(format: "%d/%d tokens, %.0f tokens/s", done, total,
                                             seconds > 0 ? Double(done - firstRows) / seconds : 0))
        }
        bar?.finish()
        let seconds = bar.map { Date().timeIntervalSince($0.start) } ?? 0
        note(String(format: "%d rows of %d hooks (%d layers, width %d) in %@; %d new in %.1fs",
                    manifest.rows, hooks.count, chosen.count, manifest.width, out, manifest.rows - firstRows, seconds))
    }
}
