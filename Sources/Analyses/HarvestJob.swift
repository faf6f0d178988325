import Foundation
import Lantern
import Training

/// A hook's activations over a corpus, in resumable safetensors shards (`lantern harvest`): run
/// the same request again to continue after an interruption; `shard` I/N splits it over machines.
public struct HarvestRequest: JobRequest {
    public static let name = "harvest"
    public static let summary = "Save a hook's activations over a corpus (safetensors shards, resumable, splittable)."
    public static let hook = Field("hook", .string(choices: []), "The hook to read (e.g. blocks.6.hook_resid_post).")
    public static let tokens = Field("tokens", .integer(1...JobFields.maxCount), "Activation rows (tokens) to collect, over all shards of --shard.")
    public static let context = Field("context", .integer(2...1 << 20), default: "128", "Tokens per context, BOS included.")
    public static let shard = Field("shard", .string(choices: []), default: "0/1",
                                    "This worker's part, I/N (e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).")
    public static let batch = Field("batch", .integer(1...1_000_000), default: "64", "Contexts per shard file (how much an interruption can lose).")
    public static let defaultPassRows = Harvester.Options.defaultBatchRows
    public static let passRows = Field("pass_rows", .integer(0...1 << 20), default: "\(Harvester.Options.defaultBatchRows)",
                                       "Tokens per forward pass: contexts run together as rows of one pass, up to this many (0 or 1: each context alone). The rows are the same either way, to summation order.")
    public static let includeBOS = Field("include_bos", .boolean, default: "false",
                                         "Keep the BOS position's activations (left out by default, as Gemma Scope does).")
    public static let dtype = Field("dtype", .string(choices: ["f32", "f16"]), default: "f32",
                                    "How shards store the activations: f32 (exact) or f16 (half the bytes and disk reads, rounded to nearest; what training reads is then the rounded rows).")
    public static let fields = JobModel.fields + [JobFields.corpus, JobFields.byteTokens, hook, tokens, context, shard, batch, passRows, includeBOS, dtype, JobFields.out]

    public var model: JobModel
    public var corpus: CorpusSource
    public var hook: String
    public var tokens: Int
    public var context: Int
    public var shard: String
    public var batch: Int
    public var passRows: Int
    public var includeBOS: Bool
    public var dtype: String
    public var out: String
    public var frontEnd = JobFrontEnd()

    public init(model: JobModel = JobModel(), corpus: CorpusSource = CorpusSource(), hook: String, tokens: Int, context: Int = 128,
                shard: String = "0/1", batch: Int = 64, passRows: Int = Harvester.Options.defaultBatchRows,
                includeBOS: Bool = false, dtype: String = "f32", out: String) {
        self.model = model
        self.corpus = corpus
        self.hook = hook
        self.tokens = tokens
        self.context = context
        self.shard = shard
        self.batch = batch
        self.passRows = passRows
        self.includeBOS = includeBOS
        self.dtype = dtype
        self.out = out
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        self.init(model: try JobModel(json: json), corpus: try JobFields.corpus(json),
                  hook: try JobFields.required(try json.string(Self.hook), Self.hook),
                  tokens: try JobFields.required(try json.int(Self.tokens), Self.tokens),
                  context: try json.int(Self.context) ?? 128, shard: try json.string(Self.shard) ?? "0/1",
                  batch: try json.int(Self.batch) ?? 64,
                  passRows: try json.int(Self.passRows) ?? Harvester.Options.defaultBatchRows,
                  includeBOS: try json.bool(Self.includeBOS) ?? false, dtype: try json.string(Self.dtype) ?? "f32",
                  out: try JobFields.required(try json.string(JobFields.out), JobFields.out))
    }

    public func validate() throws {
        try frontEnd.check(tokens, Self.tokens)
        try frontEnd.check(context, Self.context)
        try frontEnd.check(batch, Self.batch)
        try frontEnd.check(passRows, Self.passRows)
        _ = try shardDType()
        _ = try workerAndCount()
    }

    /// `dtype` as the shards' DType.
    func shardDType() throws -> DType { try Self.shardDType(dtype, frontEnd) }

    /// A `dtype` field's value as the shards' DType (harvest and transcoder harvest).
    static func shardDType(_ text: String, _ frontEnd: JobFrontEnd) throws -> DType {
        switch text {
        case "f32": return .f32
        case "f16": return .f16
        default: throw AnalysisError.invalid("\(frontEnd.name(Self.dtype)) must be f32 or f16, got '\(text)'")
        }
    }

    /// `shard` as (I, N).
    func workerAndCount() throws -> (Int, Int) {
        let parts = shard.split(separator: "/").map { Int($0) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, (0..<n).contains(i) else {
            throw AnalysisError.invalid("\(frontEnd.name(Self.shard)) must be I/N with 0 ≤ I < N, got '\(shard)'")
        }
        return (i, n)
    }

    public func run(monitor: AnalysisMonitor) throws -> HarvestResult {
        try run(on: try model.load(manyPasses: true, frontEnd), monitor: monitor)
    }

    /// Harvests with a model already loaded (`sae train` harvests first when it has no activations).
    public func run(on loaded: LanternModel, monitor: AnalysisMonitor) throws -> HarvestResult {
        let (worker, workers) = try workerAndCount()
        var source = corpus
        source.notice = frontEnd.notice
        var options = Harvester.Options(hook: hook, tokens: tokens, context: context, contextsPerShard: batch,
                                        includeBOS: includeBOS, worker: worker, workers: workers)
        options.batchRows = passRows
        options.dtype = try shardDType()
        let harvester = try Harvester(model: loaded.transformer, modelName: loaded.source,
                                      packer: try source.packer(for: loaded, length: context), options: options)
        let result = try HarvestResult.run(harvester, output: out, subject: "harvest \(hook)", monitor: monitor)
        frontEnd.notice(String(format: "%d rows of %@ (width %d) in %d shards in %@; %d new in %.1fs (%.0f tokens/s)",
                               result.rows, hook, result.width, result.shards, result.folder,
                               result.newRows, result.seconds, result.seconds > 0 ? Double(result.newRows) / result.seconds : 0))
        return result
    }
}

/// What a harvest wrote: this worker's rows, their width and shards, and what this run added.
public struct HarvestResult: Codable, Sendable {
    public var out: String
    /// Where this worker's shards and manifest are (`out`, or `out/part-I-of-N`).
    public var folder: String
    public var hooks: [String]
    /// The layers a transcoder harvest read.
    public var layers: [Int]?
    public var rows: Int
    public var width: Int
    public var shards: Int
    public var complete: Bool
    /// Rows this run added (fewer than `rows` when it continued an earlier one).
    public var newRows: Int
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case out, folder, hooks, layers, rows, width, shards, complete, seconds
        case newRows = "new_rows"
    }

    /// Runs `harvester` into `output`, reporting rows of the target with the rate since this run
    /// started; a cancel stops it between contexts (the shards written stay).
    static func run(_ harvester: Harvester, output: String, subject: String, monitor: AnalysisMonitor) throws -> HarvestResult {
        var start: Date?
        var firstRows = 0
        let manifest = try harvester.run(output: output) { done, total in
            let now = Date()
            if start == nil { start = now; firstRows = done }
            let seconds = now.timeIntervalSince(start!)
            let rate = seconds > 0 ? Double(done - firstRows) / seconds : 0
            try monitor.step(done, of: total, JobProgress.label(subject, String(format: "%d/%d tokens, %.0f tokens/s", done, total, rate)))
        }
        return HarvestResult(out: output, folder: harvester.folder(for: output), hooks: harvester.options.hooks, layers: nil,
                             rows: manifest.rows, width: manifest.width, shards: manifest.shards.count, complete: manifest.complete,
                             newRows: manifest.rows - firstRows, seconds: start.map { Date().timeIntervalSince($0) } ?? 0)
    }
}
