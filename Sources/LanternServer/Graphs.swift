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
    func transcoderFeature(_ body: APIRequest) async throws -> Data {
        let request = try TranscoderFeatureRequest(json: RequestFields(body.fields))
        let context = self.context
        try request.validate(against: context)
        let contexts = Array(setup.scanContexts.prefix(setup.onDemandContexts))
        guard !contexts.isEmpty else { throw APIError(.notFound, "the server has no corpus to scan (start it with --scan-tokens > 0)") }
        let scan = UncheckedBox(try request.scan(on: context, bos: contexts[0].first))
        for corpusContext in contexts {
            try await queue.run { try scan.value.add(context: corpusContext, model: context.transformer) }
        }
        return try await queue.run { try AnalysisJSON.encode(try request.result(on: context, scan: scan.value)) }
    }
}
