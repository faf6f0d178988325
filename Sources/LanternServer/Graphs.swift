import Foundation
import Hummingbird
import Analyses
import Lantern

extension LanternServer {
    /// `lantern graph --json` (`--out`'s object, Neuronpedia's schema) for the request's prompt,
    /// through the transcoders given on the command line; computed in slices of one batch of
    /// backward passes.
    func graph(_ request: APIRequest) async throws -> Data {
        try await graph(request, progress: { _, _ in })
    }

    func graph(_ body: APIRequest, progress: @escaping @Sendable (Int, Int) -> Void) async throws -> Data {
        let request = try preparedGraph(body)
        let context = self.context
        _ = try await queue.run { try request.tokens(on: context).count }
        return try await SlicedJob.run(queue: queue, jobs: jobs, progress: progress) { checkpoint in
            // Each batch's progress call is where the slice ends and other requests run.
            try withoutActuallyEscaping(checkpoint) { checkpoint in
                let slice = UncheckedBox(checkpoint)
                let monitor = AnalysisMonitor(progress: { done, total, _ in try slice.value(done, total) })
                return try AnalysisJSON.encode(try request.run(on: context, monitor: monitor))
            }
        }
    }

    /// The same as server-sent events with the targets done so far.
    func graphStream(_ body: APIRequest) async throws -> Response {
        // Refusals (no transcoders, bad options, a bad prompt) answer with a status, before the stream.
        let request = try preparedGraph(body)
        let context = self.context
        _ = try await queue.run { try request.tokens(on: context).count }
        return slicedStream { progress in try await self.graph(body, progress: progress) }
    }

    /// The request read and checked (no transcoders: 404).
    func preparedGraph(_ body: APIRequest) throws -> GraphRequest {
        guard setup.replacement != nil else { throw APIError(.notFound, context.noTranscoders) }
        let request = try GraphRequest(json: RequestFields(body.fields))
        try request.validate(against: context)
        return request
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
