import ArgumentParser
import Foundation
import Lantern
import Training

/// `lantern harvest`: a hook's activations over a corpus, in resumable safetensors shards.
struct Harvest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save a hook's activations over a corpus (safetensors shards, resumable, splittable).",
        discussion: """
            Writes DIR/shard-00000.safetensors, … (activations [rows, d] float32; tokens [rows]) and \
            DIR/manifest.json. Run the same command again to continue after an interruption. With \
            --shard I/N the run does every N-th context starting at I and writes into DIR/part-I-of-N, \
            so N machines (a Slurm array, a Kubernetes indexed Job) can share DIR; `lantern sae train \
            --activations DIR` reads all parts.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var corpus: CorpusOptions
    @OptionGroup var harvest: HarvestOptions

    @Option(name: .long, help: "Output directory.")
    var out: String

    func run() throws {
        let loaded = try model.load(manyPasses: true)
        try harvest.run(loaded, corpus: corpus, output: out)
    }
}

/// What `harvest` and `sae train` (when it harvests first) share.
struct HarvestOptions: ParsableArguments {
    @Option(name: .long, help: "The hook to read (e.g. blocks.6.hook_resid_post).")
    var hook: String

    @Option(name: .long, help: "Activation rows (tokens) to collect, over all shards of --shard.")
    var tokens: Int

    @Option(name: .long, help: "Tokens per context, BOS included.")
    var context = 128

    @Option(name: .long, help: "This worker's part, I/N (e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).")
    var shard = "0/1"

    @Option(name: .long, help: "Contexts per shard file (how much an interruption can lose).")
    var batch = 64

    @Flag(name: .long, help: "Keep the BOS position's activations (left out by default, as Gemma Scope does).")
    var includeBos = false

    func validate() throws {
        try OptionCheck.integer(tokens, "--tokens", 1...OptionCheck.maxCount)
        try OptionCheck.integer(context, "--context", 2...1 << 20)
        try OptionCheck.integer(batch, "--batch", 1...1_000_000)
    }

    func workerAndCount() throws -> (Int, Int) {
        let parts = shard.split(separator: "/").map { Int($0) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, (0..<n).contains(i) else {
            throw ValidationError("--shard must be I/N with 0 ≤ I < N, got '\(shard)'")
        }
        return (i, n)
    }

    @discardableResult
    func run(_ loaded: LanternModel, corpus: CorpusOptions, output: String, quiet: Bool = false) throws -> HarvestManifest {
        let (worker, workers) = try workerAndCount()
        let harvester = try Harvester(
            model: loaded.transformer, modelName: loaded.source, packer: try corpus.packer(for: loaded, length: context),
            options: .init(hook: hook, tokens: tokens, context: context, contextsPerShard: batch, includeBOS: includeBos,
                           worker: worker, workers: workers))
        var bar: Progress?
        var firstRows: Int?
        let manifest = try harvester.run(output: output) { done, total in
            if bar == nil { bar = Progress(total: total, label: "harvest \(hook)"); firstRows = done }
            let seconds = Date().timeIntervalSince(bar!.start)
            let rate = seconds > 0 ? Double(done - firstRows!) / seconds : 0
            bar!.update(done, detail: String(format: "%d/%d tokens, %.0f tokens/s", done, total, rate))
        }
        bar?.finish()
        let seconds = bar.map { Date().timeIntervalSince($0.start) } ?? 0
        let added = manifest.rows - (firstRows ?? manifest.rows)
        note(String(format: "%d rows of %@ (width %d) in %d shards in %@; %d new in %.1fs (%.0f tokens/s)",
                    manifest.rows, hook, manifest.width, manifest.shards.count,
                    HarvestManifest.folder(output: output, worker: worker, workers: workers),
                    added, seconds, seconds > 0 ? Double(added) / seconds : 0))
        return manifest
    }
}
