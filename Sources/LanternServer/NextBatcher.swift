import Foundation
import Analyses
import Lantern

/// Concurrent `next` requests merged into one forward pass: requests that arrive while the queue is
/// busy wait together, and when their job's turn comes every one of them runs as a row group of
/// one batched pass (`Transformer.forward(batch:)`, up to `ServerLimits.mergedRows` tokens a pass),
/// each answer the one it would have had alone, to summation order. One job on the model's queue
/// for the whole group, so the queue's limit counts groups, and the group's size is bounded by
/// the queue's capacity.
final class NextBatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var waiting: [(request: NextRequest, reply: CheckedContinuation<Data, any Error>)] = []
    private var scheduled = false
    private let queue: ModelQueue
    private let context: AnalysisContext
    private let mergedRows: Int

    init(queue: ModelQueue, context: AnalysisContext, mergedRows: Int) {
        self.queue = queue
        self.context = context
        self.mergedRows = mergedRows
    }

    /// The request's JSON, computed with whatever other `next` requests wait beside it.
    func answer(_ request: NextRequest) async throws -> Data {
        try await withCheckedThrowingContinuation { reply in
            let (full, first) = lock.withLock { () -> (Bool, Bool) in
                guard waiting.count < queue.capacity else { return (true, false) }
                waiting.append((request, reply))
                defer { scheduled = true }
                return (false, !scheduled)
            }
            if full {
                reply.resume(throwing: APIError(.serviceUnavailable, "the model's queue is full (\(queue.capacity) jobs): try again shortly"))
            } else if first {
                Task { await self.schedule() }
            }
        }
    }

    /// One job on the model's queue that answers everything waiting when it runs.
    private func schedule() async {
        do {
            try await queue.run { self.drain() }
        } catch {
            // The queue refused the job: everyone waiting hears why.
            for (_, reply) in takeWaiting() { reply.resume(throwing: error) }
        }
    }

    /// Every waiting request, the list emptied; the next arrival schedules a new job.
    private func takeWaiting() -> [(request: NextRequest, reply: CheckedContinuation<Data, any Error>)] {
        lock.withLock {
            scheduled = false
            defer { waiting.removeAll() }
            return waiting
        }
    }

    /// Runs on the model's queue: takes every waiting request, reads their tokens (a request whose
    /// prompt is refused gets its own error), then runs them in passes of at most `mergedRows` tokens.
    private func drain() {
        let group = takeWaiting()
        var ready: [(request: NextRequest, reply: CheckedContinuation<Data, any Error>, ids: [Int32])] = []
        for (request, reply) in group {
            do {
                ready.append((request, reply, try context.tokens(request.prompt)))
            } catch {
                reply.resume(throwing: error)
            }
        }
        var start = 0
        while start < ready.count {
            var end = start + 1, rows = ready[start].ids.count
            while end < ready.count, rows + ready[end].ids.count <= mergedRows {
                rows += ready[end].ids.count
                end += 1
            }
            run(Array(ready[start..<end]))
            start = end
        }
    }

    private func run(_ part: [(request: NextRequest, reply: CheckedContinuation<Data, any Error>, ids: [Int32])]) {
        let model = context.model
        do {
            let outs = try model.transformer.forward(batch: part.map(\.ids), logits: .last)
            for (item, out) in zip(part, outs) {
                item.reply.resume(with: Result {
                    guard let out else { throw LanternError.backend("the forward pass returned no logits") }
                    return try AnalysisJSON.encode(try item.request.result(ids: item.ids, logits: out, model: model))
                })
            }
        } catch {
            for item in part { item.reply.resume(throwing: error) }
        }
    }
}
