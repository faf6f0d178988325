import Foundation
import Hummingbird
import HummingbirdCore
import Analyses
import Lantern
import Logging

/// `lantern serve`: the page app and its JSON API over one model instance.
public final class LanternServer: Sendable {
    let setup: ServerSetup
    let queue: ModelQueue
    let scans: [BackgroundScan]
    let jobs: JobCounts
    /// What analyses run against: the served model, SAEs and lens, the server's limits, feature
    /// labels from the finished background scans. Used on the model's queue only.
    let context: AnalysisContext
    /// Concurrent `next` requests merged into one pass (nil: each runs alone).
    let nexts: NextBatcher?

    public init(_ setup: ServerSetup) {
        self.setup = setup
        queue = ModelQueue(capacity: setup.limits.queuedJobs)
        jobs = JobCounts(limit: setup.limits.slicedJobs)
        let length = setup.scanContexts.first?.count ?? 0
        let scans = setup.saes.map {
            BackgroundScan(sae: $0, contexts: setup.scanContexts.count, contextLength: length, bos: setup.scanContexts.first?.first)
        }
        self.scans = scans
        context = AnalysisContext(model: setup.model, saes: setup.saes, tuned: setup.tuned, byteTokens: setup.byteTokens,
                                  limits: setup.limits.analyses, featureScan: { scans[$0].finishedScan })
        context.noSAE = "the server was started without --sae: no SAE features to show"
        context.scanSource = "background scan"
        context.replacement = setup.replacement
        context.noTranscoders = "the server was started without --transcoders: no attribution graphs"
        nexts = setup.limits.mergedRows > 1 ? NextBatcher(queue: queue, context: context, mergedRows: setup.limits.mergedRows) : nil
    }

    /// Serves until the task is cancelled (or SIGINT/SIGTERM with `signals`); `onRunning` gets the
    /// bound port (the one asked for, or the system's choice for port 0).
    public func run(signals: Bool = true, onRunning: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "lantern.serve")
        // Embedded (tests) the server stops by cancellation, which the framework logs as errors.
        logger.logLevel = signals ? .warning : .critical
        // Idle connections close after a while; connections past the cap are told 503 at once, and
        // past a few more wait in the kernel's backlog until one closes: the process cannot run out
        // of file descriptors. The HTTP parser's refusals get the API's JSON error too.
        let gate = ConnectionGate(limit: setup.limits.connections)
        let server = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [ParserErrorHandler(), gate.handler()],
                                                                  idleTimeout: .seconds(Int64(setup.limits.idleSeconds))))
        let configuration = ApplicationConfiguration(
            address: .hostname(setup.host, port: setup.port), serverName: "lantern",
            availableConnectionsDelegate: MaximumAvailableConnections(setup.limits.connections + ConnectionGate.answering))
        let app = Application(router: router(), server: server, configuration: configuration,
                              onServerRunning: { onRunning($0.localAddress?.port ?? 0) }, logger: logger)
        // The SAEs' scans, one after another; each scan's jobs interleave with requests on the queue.
        let scanning = Task { [setup, queue, scans] in
            for scan in scans { await scan.run(contexts: setup.scanContexts, model: setup.model, queue: queue) }
        }
        defer { scanning.cancel() }
        try await app.runService(gracefulShutdownSignals: signals ? [.sigterm, .sigint] : [])
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: LocalAccessMiddleware(host: setup.host, allowedHosts: setup.allowedHosts, bodyLimit: setup.limits.bodyBytes))
        router.get("/") { _, _ in Self.asset(Page.html, type: "text/html; charset=utf-8") }
        router.get("/openapi.json") { _, _ in JSONResponse.data(try JSONResponse.encode(OpenAPI.document(limits: self.setup.limits.analyses))) }
        router.get("/api/info") { _, _ in JSONResponse.data(try JSONResponse.encode(self.info)) }
        router.get("/api/scan") { _, _ in
            JSONResponse.data(try JSONResponse.encode(["scans": self.scans.map(\.progress)]))
        }
        var json: [(String, @Sendable (LanternServer) -> (APIRequest) async throws -> Data)] = [
            ("/api/feature", { $0.dashboard }), ("/api/feature/search", { $0.featureSearch }), ("/api/steer", { $0.steer }), ("/api/generate", { $0.generate }),
            ("/api/neuron", { $0.neuronDashboard }),
            ("/api/graph", { $0.graph }), ("/api/transcoder-feature", { $0.transcoderFeature }), ("/api/patch/sweep", { $0.patchSweep }),
        ]
        for type in Self.oneJobAnalyses {
            json.append(("/api/" + type.name, { server in { try await server.analysis(type, $0) } }))
        }
        for (path, handler) in json {
            router.post(RouterPath(path)) { request, _ in
                // The work is cancelled (dropped from the queue) when the client disconnects.
                try await request.body.consumeWithCancellationOnInboundClose { body in
                    let parsed = try await APIRequest.read(body, limit: self.setup.limits.bodyBytes)
                    var response = JSONResponse.data(try await handler(self)(parsed))
                    // Watching for the client's hang-up ends the connection after the response:
                    // said, so that a client does not send its next request down it.
                    response.headers[.connection] = "close"
                    return response
                }
            }
        }
        let streams: [(String, @Sendable (LanternServer) -> (APIRequest) async throws -> Response)] = [
            ("/api/steer/stream", { $0.steerStream }), ("/api/graph/stream", { $0.graphStream }), ("/api/patch/sweep/stream", { $0.patchSweepStream }),
        ]
        for (path, handler) in streams {
            router.post(RouterPath(path)) { request, _ in
                try await handler(self)(try await APIRequest.read(request.body, limit: self.setup.limits.bodyBytes))
            }
        }
        return router
    }

    /// The catalog's analyses that run in one job (one or a few forward passes); generation and
    /// steering step a token per job instead, so that other requests slip in between.
    static let oneJobAnalyses: [any AnalysisRequest.Type] = [NextRequest.self, LensRequest.self, AttentionRequest.self,
                                                              FeaturesRequest.self, NeuronsRequest.self, AttributeRequest.self, PatchRequest.self]

    /// Every analysis the server serves (and the OpenAPI document describes): the one-job ones, and
    /// those with routes of their own (token by token, sliced, or over an on-demand scan).
    static let servedAnalyses: [any AnalysisRequest.Type] = oneJobAnalyses + [
        GenerateRequest.self, SteerRequest.self, PatchSweepRequest.self, FeatureDashboardRequest.self, FeatureSearchRequest.self, NeuronDashboardRequest.self,
        GraphRequest.self, TranscoderFeatureRequest.self,
    ]

    var info: [String: Any] {
        let c = setup.model.config
        let counts = queue.counts
        return ["model": setup.model.displayName, "layers": c.layerCount, "heads": c.heads, "vocab": c.vocabSize,
                "context": c.contextLength, "tokenizer": setup.model.tokenizer != nil || setup.byteTokens,
                "saes": setup.saes.enumerated().map { ["index": $0, "source": $1.source, "hook": $1.hookName, "d_sae": $1.dSAE] as [String: Any] },
                "tuned_lens": setup.tuned != nil, "backend": setup.model.backend.name,
                "transcoders": transcoderInfo as Any,
                "queue": ["queued": counts.queued, "ran": counts.ran, "skipped": counts.skipped],
                "jobs": jobs.json,
                "limits": ["body_bytes": setup.limits.bodyBytes, "prompt_tokens": setup.limits.promptTokens,
                           "new_tokens": setup.limits.newTokens, "queued_jobs": setup.limits.queuedJobs,
                           "graph_tokens": setup.limits.graphTokens, "sweep_cells": setup.limits.sweepCells]]
    }

    /// The transcoders behind `/api/graph` (NSNull when none: JSON null).
    var transcoderInfo: Any {
        switch setup.replacement?.transcoders {
        case nil: return NSNull()
        case let .perLayer(set)?: return ["kind": "per-layer", "layers": set.count, "widths": set.map(\.dSAE), "sources": set.map(\.source)] as [String: Any]
        case let .crossLayer(clt)?: return ["kind": "cross-layer", "layers": clt.layerCount, "widths": [clt.dSAE], "sources": [clt.source]] as [String: Any]
        }
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-store"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
