import Foundation
import Hummingbird
import Lantern

/// What one graph request asks for: `lantern graph`'s options, checked as its command line checks them.
struct GraphRequest: Sendable {
    let options: GraphOptions
    let nodeThreshold: Float
    let edgeThreshold: Float
    let slug: String

    init(_ request: APIRequest, limits: ServerLimits) throws {
        func share(_ key: String, _ value: Float) throws -> Float {
            let x = try request.float(key, default: value, 0...1)
            guard x > 0 else { throw APIError.bad("'\(key)' must be in (0, 1], got 0") }
            return x
        }
        nodeThreshold = try share("node_threshold", 0.8)
        edgeThreshold = try share("edge_threshold", 0.98)
        let maxLogits = try request.int("max_logits", default: 10, 1...limits.topCount)
        let probability = try share("logit_probability", 0.95)
        let cap = request.fields["max_feature_nodes"] == nil ? nil : try request.int("max_feature_nodes", default: 0, 0...1_000_000)
        let batch = try request.int("batch_size", default: 64, 1...limits.graphBatch)
        let conventions: GraphConventions
        switch try request.string("conventions") ?? "complete" {
        case "complete": conventions = .complete
        case "circuit-tracer": conventions = .circuitTracer
        case let other: throw APIError.bad("'conventions' must be complete or circuit-tracer, got '\(other)'")
        }
        options = GraphOptions(maxLogits: maxLogits, logitProbability: probability, conventions: conventions, maxFeatureNodes: cap, batchSize: batch)
        slug = try request.string("slug") ?? "lantern-graph"
        guard slug.count <= 200 else { throw APIError.bad("'slug' must be at most 200 characters") }
    }
}

extension LanternServer {
    /// `lantern graph --out`'s JSON (Neuronpedia's schema) for the request's prompt, through the
    /// transcoders given on the command line; computed in slices of one batch of backward passes.
    func graph(_ request: APIRequest) async throws -> Data {
        try await graph(request, progress: { _, _ in })
    }

    func graph(_ request: APIRequest, progress: @escaping @Sendable (Int, Int) -> Void) async throws -> Data {
        let setup = self.setup
        guard let replacement = setup.replacement else {
            throw APIError(.notFound, "the server was started without --transcoders: no attribution graphs")
        }
        let asked = try GraphRequest(request, limits: setup.limits)
        let ids = try await queue.run { UncheckedBox(try request.promptIDs(setup, limit: setup.limits.graphTokens)) }.value
        return try await SlicedJob.run(queue: queue, jobs: jobs, progress: progress) { checkpoint in
            let model = setup.model
            let graph = try replacement.graph(tokens: ids, options: asked.options, progress: checkpoint)
            let pruned = try graph.pruned(nodeThreshold: asked.nodeThreshold, edgeThreshold: asked.edgeThreshold)
            let object = NeuronpediaGraph.object(graph, pruned: pruned, slug: asked.slug, scan: model.displayName, prompt: model.decode(ids),
                                                 nodeThreshold: asked.nodeThreshold, edgeThreshold: asked.edgeThreshold,
                                                 options: asked.options, tokenText: model.display)
            return try JSONResponse.encode(object)
        }
    }

    /// The same as server-sent events with the targets done so far.
    func graphStream(_ request: APIRequest) async throws -> Response {
        // Refusals (no transcoders, bad options, a bad prompt) answer with a status, before the stream.
        guard setup.replacement != nil else { throw APIError(.notFound, "the server was started without --transcoders: no attribution graphs") }
        _ = try GraphRequest(request, limits: setup.limits)
        let setup = self.setup
        _ = try await queue.run { try request.promptIDs(setup, limit: setup.limits.graphTokens).count }
        return slicedStream { progress in try await self.graph(request, progress: progress) }
    }

    /// A transcoder feature's top contexts (as `lantern graph --contexts` shows them in its page's
    /// hovers), from the first `--on-demand-contexts` corpus contexts scanned now, one job each.
    func transcoderFeature(_ request: APIRequest) async throws -> Data {
        let setup = self.setup
        guard case let .perLayer(transcoders)? = setup.replacement?.transcoders else {
            throw APIError(.notFound, "feature contexts need per-layer transcoders (--transcoders): this server has none")
        }
        let layer = try request.int("layer", default: -1, -1...(transcoders.count - 1))
        guard layer >= 0 else { throw APIError.bad("give 'layer', an integer in 0...\(transcoders.count - 1)") }
        let transcoder = transcoders[layer]
        let feature = try request.int("feature", default: -1, -1...(transcoder.dSAE - 1))
        guard feature >= 0 else { throw APIError.bad("give 'feature', an integer in 0...\(transcoder.dSAE - 1)") }
        let contexts = Array(setup.scanContexts.prefix(setup.onDemandContexts))
        guard !contexts.isEmpty else { throw APIError(.notFound, "the server has no corpus to scan (start it with --scan-tokens > 0)") }
        var options = FeatureScan.Options()
        options.topExamples = 3
        options.before = 12
        options.after = 3
        let scan = UncheckedBox(TranscoderScan(transcoders: [transcoder], bos: contexts[0].first, options: options))
        for context in contexts {
            try await queue.run { try scan.value.add(context: context, model: setup.model.transformer) }
        }
        return try await queue.run {
            let summary = scan.value.scans[0].summary(feature)
            return try JSONResponse.encode(["layer": layer, "feature": feature, "source": transcoder.source,
                                            "density": summary.density, "max_activation": Double(summary.maxActivation),
                                            "scanned_tokens": scan.value.scans[0].tokens,
                                            "contexts": scan.value.contexts(layer: 0, feature: feature, text: setup.model.display)])
        }
    }
}
