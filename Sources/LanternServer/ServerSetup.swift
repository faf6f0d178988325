import Foundation
import Analyses
import Lantern

/// What `lantern serve` serves: everything comes from the command line. Requests choose among
/// these (an SAE by its index), never name a file.
public struct ServerSetup: @unchecked Sendable {
    public var model: LanternModel
    public var saes: [SAE]
    public var tuned: TunedLens?
    /// The transcoders of `--transcoders` over the model, for attribution graphs.
    public var replacement: ReplacementModel?
    public var host: String
    public var port: Int
    /// Text prompts as UTF-8 bytes after BOS, for models without a tokenizer (the test fixtures).
    public var byteTokens: Bool
    /// Corpus contexts scanned in the background for feature dashboards (BOS first, equal length).
    public var scanContexts: [[Int32]]
    /// How many of `scanContexts` an on-demand dashboard reads while the background scan runs.
    public var onDemandContexts: Int
    public var limits: ServerLimits
    /// Host names accepted in the `Host` header besides loopback and `host` (`--allow-host`).
    public var allowedHosts: [String]

    public init(model: LanternModel, saes: [SAE] = [], tuned: TunedLens? = nil, replacement: ReplacementModel? = nil, host: String = "127.0.0.1", port: Int = 8080,
                byteTokens: Bool = false, scanContexts: [[Int32]] = [], onDemandContexts: Int = 8, limits: ServerLimits = ServerLimits(),
                allowedHosts: [String] = []) {
        self.model = model
        self.saes = saes
        self.tuned = tuned
        self.replacement = replacement
        self.host = host
        self.port = port
        self.byteTokens = byteTokens
        self.scanContexts = scanContexts
        self.onDemandContexts = onDemandContexts
        self.limits = limits
        self.allowedHosts = allowedHosts
    }
}

/// What one request may ask for: a client cannot make the server read a large body, run a huge
/// prompt or queue work without end.
public struct ServerLimits: Sendable {
    public var bodyBytes = 64 * 1024
    public var promptTokens = 512
    public var newTokens = 128
    public var topCount = 200
    public var steeringFeatures = 16
    public var steeringStrength: Float = 10_000
    public var queuedJobs = 256
    /// Attribution graphs: their node count grows with the prompt, their adjacency with its square.
    public var graphTokens = 32
    public var graphBatch = 256
    /// Patching sweeps: rows × positions, one forward pass each.
    public var sweepCells = 4096
    /// Graphs and sweeps running at once: each holds a worker thread while it waits for the queue,
    /// and a 32-token graph on the default model some 1.4 GB of adjacency.
    public var slicedJobs = 2
    /// Open connections at once, well below the usual 1,024 file descriptors a process may hold;
    /// the next few are answered 503 and closed, more wait in the listen backlog.
    public var connections = 256
    /// Seconds a connection may sit idle between requests before it is closed.
    public var idleSeconds = 30
    /// Tokens of concurrent `next` requests run together as rows of one forward pass (0 or 1: each
    /// request alone).
    public var mergedRows = 1024
    public init() {}

    /// The limits every analysis request is held to.
    var analyses: AnalysisLimits {
        var limits = AnalysisLimits()
        limits.promptTokens = promptTokens
        limits.topCount = topCount
        limits.newTokens = newTokens
        limits.steeringFeatures = steeringFeatures
        limits.steeringStrength = steeringStrength
        limits.sweepCells = sweepCells
        limits.graphTokens = graphTokens
        limits.graphBatch = graphBatch
        return limits
    }
}
