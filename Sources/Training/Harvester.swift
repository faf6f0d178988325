import Foundation
import Formats
import LanternCore
import Models

/// Runs a model over a corpus and writes one hook's activations to safetensors shards
/// (`activations` [rows, d], f32 or, by choice, f16, and the `tokens` [rows] they were read at), with a
/// manifest that makes the harvest resumable and splittable over machines. Several hooks can be
/// read in the same forward pass (transcoders train on every layer's MLP input and output): each
/// shard then holds one tensor per hook, named after it.
///
/// Resumption: each shard is written under a temporary name and renamed, then the manifest is
/// rewritten (also by rename). A restarted harvest reads the manifest and skips the contexts its
/// shards hold; anything written after the last manifest is written again, so no row is lost or
/// duplicated.
///
/// Splitting: context i (in corpus order) belongs to worker i mod N. Each worker writes into its
/// own folder, `part-I-of-N`, so N machines can share one output directory.
public struct Harvester {
    public struct Options: Sendable {
        /// The hooks to read, in the order their tensors are written.
        public var hooks: [String]
        public var hook: String { hooks[0] }
        /// Rows wanted from all workers together.
        public var tokens: Int
        public var context: Int
        /// Contexts per shard.
        public var contextsPerShard: Int
        public var includeBOS: Bool
        public var worker: Int
        public var workers: Int
        /// Tokens per forward pass: contexts are run together, packed as rows of one pass
        /// (`Transformer.forward(batch:)`), up to this many rows (at least one context; 0 or 1:
        /// each context alone). A pass never crosses a shard, so a resumed run passes as the first.
        public var batchRows: Int = Self.defaultBatchRows
        /// Enough rows for the weight products to run at full speed on a CPU (see docs/performance.md).
        public static let defaultBatchRows = 512
        /// How shards store activations: f32 (exact) or f16 (half the bytes, rounded to nearest:
        /// a large harvest that fits the page cache trains at the CPU's speed, not the disk's).
        public var dtype: DType = .f32

        public init(hook: String, tokens: Int, context: Int = 128, contextsPerShard: Int = 64, includeBOS: Bool = false,
                    worker: Int = 0, workers: Int = 1) {
            self.init(hooks: [hook], tokens: tokens, context: context, contextsPerShard: contextsPerShard,
                      includeBOS: includeBOS, worker: worker, workers: workers)
        }

        public init(hooks: [String], tokens: Int, context: Int = 128, contextsPerShard: Int = 64, includeBOS: Bool = false,
                    worker: Int = 0, workers: Int = 1) {
            self.hooks = hooks
            self.tokens = tokens
            self.context = context
            self.contextsPerShard = contextsPerShard
            self.includeBOS = includeBOS
            self.worker = worker
            self.workers = workers
        }

        var rowsPerContext: Int { includeBOS ? context : context - 1 }
        /// Contexts all workers together run.
        var totalContexts: Int { (tokens + rowsPerContext - 1) / rowsPerContext }
        /// Rows the last context (in corpus order) leaves out, so that all workers together write
        /// exactly `tokens` rows rather than a whole number of contexts' worth.
        var excessRows: Int { totalContexts * rowsPerContext - tokens }
        /// Rows context `index` contributes (all but the very last context: every row after BOS).
        func rows(ofContext index: Int) -> Int { index == totalContexts - 1 ? rowsPerContext - excessRows : rowsPerContext }
        /// Rows this worker writes.
        var workerRows: Int {
            workerContexts * rowsPerContext - ((totalContexts - 1) % workers == worker ? excessRows : 0)
        }
        /// How many of them are this worker's.
        var workerContexts: Int {
            totalContexts / workers + (worker < totalContexts % workers ? 1 : 0)
        }
    }

    public let model: Transformer
    public let modelName: String
    public let packer: ContextPacker
    public let options: Options

    public init(model: Transformer, modelName: String, packer: ContextPacker, options: Options) throws {
        let known = Set(HookNames.all(model.config))
        guard !options.hooks.isEmpty, Set(options.hooks).count == options.hooks.count else {
            throw LanternError.invalidArgument("give one or more different hooks to harvest, got \(options.hooks)")
        }
        for hook in options.hooks where !known.contains(hook) {
            throw LanternError.invalidArgument("'\(hook)' is not a hook of this model (e.g. blocks.0.hook_resid_post)")
        }
        guard options.context >= 2, options.context <= model.config.contextLength else {
            throw LanternError.invalidArgument("context \(options.context) must be in 2...\(model.config.contextLength) (the model's context)")
        }
        guard options.workers >= 1, (0..<options.workers).contains(options.worker) else {
            throw LanternError.invalidArgument("shard \(options.worker)/\(options.workers): need 0 ≤ I < N")
        }
        guard options.tokens > 0, options.contextsPerShard > 0 else {
            throw LanternError.invalidArgument("tokens and contexts per shard must be positive")
        }
        guard options.dtype == .f32 || options.dtype == .f16 else {
            throw LanternError.invalidArgument("shards store f32 or f16 activations, not \(options.dtype)")
        }
        self.model = model
        self.modelName = modelName
        self.packer = packer
        self.options = options
    }

    /// The block after which the forward pass can stop (nil: a hook is after the last block).
    static func lastLayerNeeded(for hooks: [String]) -> Int? {
        var last = 0
        for hook in hooks {
            if hook == HookNames.finalNorm { return nil }
            last = max(last, SAELensExport.layer(ofHook: hook))
        }
        return last
    }

    /// Refuses activations with NaN or ±∞ before they reach a shard (and, later, an SAE that
    /// would train to NaN on them): the forward pass checks the residual stream, but a hook off
    /// it (an attention pattern, a query) is checked here.
    /// `values`: rows from position `firstPosition` of the context on.
    static func checkFinite(_ values: [Float], width: Int, hook: String, context: Int, firstPosition: Int = 0) throws {
        guard let bad = values.firstIndex(where: { !$0.isFinite }) else { return }
        throw LanternError.invalidArgument("\(hook) is \(values[bad]) at position \(firstPosition + bad / max(width, 1)) of context \(context) (the model's weights or config produce non-finite activations)")
    }

    /// The shard tensor holding `hook`: `activations` when a harvest reads one hook, else its name.
    public static func tensorName(hook: String, hooks: [String]) -> String {
        hooks.count == 1 ? "activations" : hook
    }

    /// Where this worker writes inside `output`.
    public func folder(for output: String) -> String {
        HarvestManifest.folder(output: output, worker: options.worker, workers: options.workers)
    }

    /// Harvests into `output`, continuing whatever a previous run there finished. `progress`
    /// gets (rows written by this worker, rows it will write). `stopAfterShards` ends the run
    /// early (tests use it to stand for an interruption). `progress` may throw to stop the run (a
    /// cancelled job): the shards written so far stay, and the next run continues after them.
    /// Returns the manifest.
    @discardableResult
    public func run(output: String, stopAfterShards: Int? = nil,
                    progress: (Int, Int) throws -> Void = { _, _ in }) throws -> HarvestManifest {
        let o = options
        let folder = folder(for: output)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let layer = Self.lastLayerNeeded(for: o.hooks)
        var manifest = try HarvestManifest.load(folder: folder) ?? HarvestManifest(
            model: modelName, hook: o.hook, width: 0, context: o.context, includeBOS: o.includeBOS, tokens: o.tokens,
            worker: o.worker, workers: o.workers, corpus: packer.corpus.files, hooks: o.hooks.count > 1 ? o.hooks : nil,
            dtype: o.dtype == .f32 ? nil : o.dtype.rawValue)
        guard manifest.allHooks == o.hooks, manifest.context == o.context, manifest.includeBOS == o.includeBOS,
              manifest.tokens == o.tokens, manifest.workers == o.workers, manifest.corpus == packer.corpus.files else {
            throw LanternError.invalidArgument("\(folder) holds a harvest with other settings (hook, context, tokens, shards or corpus): use another --out")
        }
        guard manifest.storedDType == o.dtype else {
            throw LanternError.invalidArgument("\(folder) holds a harvest stored as \(manifest.storedDType), not \(o.dtype): use the same --dtype, or another --out")
        }
        let target = o.workerRows
        try progress(manifest.rows, target)
        if manifest.contextsDone >= o.workerContexts {
            if !manifest.complete { manifest.complete = true; try manifest.save(folder: folder) }
            return manifest
        }

        var rows = [[Float]](repeating: [], count: o.hooks.count), tokens: [Int32] = []
        var pendingContexts = 0, shardsWritten = 0, mine = 0
        func flush() throws {
            let name = String(format: "shard-%05d.safetensors", manifest.shards.count)
            let path = (folder as NSString).appendingPathComponent(name)
            let tensors = o.hooks.indices.map {
                SafetensorsWriter.Entry(name: Self.tensorName(hook: o.hooks[$0], hooks: o.hooks),
                                        shape: [tokens.count, manifest.width], values: rows[$0], dtype: o.dtype)
            }
            try SafetensorsWriter.write(
                tensors + [.init(name: "tokens", shape: [tokens.count], integers: tokens)],
                metadata: ["hook": o.hooks.joined(separator: ","), "model": modelName, "context": "\(o.context)",
                           "tokens_dtype": "I32"],
                to: path + ".partial")
            guard rename(path + ".partial", path) == 0 else {
                throw LanternError.badFile(path: path, field: "file", problem: "cannot move the shard into place")
            }
            manifest.shards.append(.init(file: name, rows: tokens.count, contexts: pendingContexts))
            manifest.complete = manifest.contextsDone >= o.workerContexts
            try manifest.save(folder: folder)
            for h in rows.indices { rows[h].removeAll(keepingCapacity: true) }
            tokens.removeAll(keepingCapacity: true)
            pendingContexts = 0
            shardsWritten += 1
        }

        let skip = manifest.contextsDone
        // Contexts waiting for their pass: (corpus index, tokens, this worker's count before it).
        var batch: [(index: Int, context: [Int32], mine: Int)] = [], stopped = false
        /// One pass over the waiting contexts, then each one's rows in order, as when they ran alone.
        func runBatch() throws {
            defer { batch.removeAll(keepingCapacity: true) }
            let hookSets = batch.map { _ in Hooks(capture: HookFilter(o.hooks)) }
            _ = try model.forward(batch: batch.map(\.context), hooks: hookSets, logits: .none, stopAfterLayer: layer)
            for ((index, context, mine), hooks) in zip(batch, hookSets) {
                let first = o.includeBOS ? 0 : 1
                let kept = min(o.rows(ofContext: index), context.count - first)
                for (h, hook) in o.hooks.enumerated() {
                    guard let activation = hooks.activation(hook) else {
                        throw LanternError.invalidArgument("the forward pass did not produce \(hook)")
                    }
                    let width = activation.width
                    if manifest.width == 0 { manifest.width = width }
                    guard width == manifest.width else {
                        throw LanternError.invalidArgument("\(hook) is \(width) wide but \(o.hook) is \(manifest.width): harvest hooks of one width together")
                    }
                    // Only the rows it writes come back from a device: not BOS, not past the context's share.
                    let values = kept > 0 ? try model.backend.read(try activation.rows(first..<(first + kept))) : []
                    try Self.checkFinite(values, width: width, hook: hook, context: index, firstPosition: first)
                    rows[h] += values
                }
                tokens += context[first..<(first + kept)]
                pendingContexts += 1
                try progress(manifest.rows + tokens.count, target)
                if pendingContexts == o.contextsPerShard || mine + 1 == o.workerContexts {
                    try flush()
                    if let stopAfterShards, shardsWritten >= stopAfterShards { stopped = true; return }
                }
            }
        }
        try packer.forEachContext { index, context in
            guard index % o.workers == o.worker else { return true }
            defer { mine += 1 }
            if mine < skip { return true }
            if mine >= o.workerContexts { return false }
            batch.append((index, context, mine))
            let rowsWaiting = batch.reduce(0) { $0 + $1.context.count }
            let endsShard = (pendingContexts + batch.count) % o.contextsPerShard == 0 || mine + 1 == o.workerContexts
            if endsShard || rowsWaiting + context.count > o.batchRows {
                try runBatch()
            }
            return !stopped
        }
        if !batch.isEmpty && !stopped { try runBatch() }
        if pendingContexts > 0 { try flush() }
        if !manifest.complete && mine < o.workerContexts && stopAfterShards == nil {
            throw LanternError.invalidArgument("the corpus ran out after \(manifest.rows) rows of this worker's \(target): give more text or fewer --tokens")
        }
        return manifest
    }
}
