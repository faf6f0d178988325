import Analyses
import Foundation
import Hummingbird
import Lantern

extension LanternServer {
    /// `lantern patch sweep --json`: the clean prompt with each hook × position (× head) taken from
    /// the corrupted prompt's run, one forward pass (one slice) per cell.
    func patchSweep(_ request: APIRequest) async throws -> Data {
        try await patchSweep(request, progress: { _, _ in })
    }

    func patchSweep(_ body: APIRequest, progress: @escaping @Sendable (Int, Int) -> Void) async throws -> Data {
        let request = try PatchSweepRequest(json: RequestFields(body.fields))
        let context = self.context
        try await queue.run { try request.validate(against: context); _ = try request.prepare(on: context) }
        return try await SlicedJob.run(queue: queue, jobs: jobs, progress: progress) { checkpoint in
            // Each cell's progress call is where the slice ends and other requests run.
            try withoutActuallyEscaping(checkpoint) { checkpoint in
                let slice = UncheckedBox(checkpoint)
                let monitor = AnalysisMonitor(progress: { done, total, _ in try slice.value(done, total) })
                return try AnalysisJSON.encode(try request.run(on: context, monitor: monitor))
            }
        }
    }

    /// The same as server-sent events with the cells done so far.
    func patchSweepStream(_ body: APIRequest) async throws -> Response {
        let request = try PatchSweepRequest(json: RequestFields(body.fields))
        let context = self.context
        try await queue.run { try request.validate(against: context); _ = try request.prepare(on: context) }
        return slicedStream { progress in try await self.patchSweep(body, progress: progress) }
    }
}
