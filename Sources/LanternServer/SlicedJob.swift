import Foundation
import Hummingbird
import Lantern

/// Long synchronous model work — an attribution graph (many backward passes), a patching sweep
/// (one forward pass per cell) — run on a worker thread of its own in slices: each slice holds the
/// model's queue as one job does, and at each of the work's progress calls the hold is released and
/// a new one queued behind whatever arrived meanwhile, so a `next` request waits at most one slice
/// (one batch of backward passes, one patched pass). A cancelled caller (its client hung up) stops
/// the work at its next progress call, or drops its waiting slice.
enum SlicedJob {
    /// Worker threads block while their slice waits or holds the queue: never Swift concurrency's threads.
    private static let workers = DispatchQueue(label: "lantern.serve.sliced", qos: .userInitiated, attributes: .concurrent)

    /// Runs `work` in slices. `work` gets the checkpoint to call with (done, total) between slices;
    /// `progress` hears each checkpoint.
    static func run<T: Sendable>(queue: ModelQueue, jobs: JobCounts, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in },
                                 _ work: @escaping @Sendable (_ checkpoint: (Int, Int) throws -> Void) throws -> T) async throws -> T {
        try Task.checkCancellation()
        try jobs.start()
        let cancelled = CancelFlag()
        do {
            let result = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                    workers.async {
                        continuation.resume(with: Result {
                            var hold = try queue.hold(cancelled)
                            defer { hold.release() }
                            return try work { done, total in
                                hold.release()
                                progress(done, total)
                                if cancelled.isSet { throw CancellationError() }
                                hold = try queue.hold(cancelled)
                            }
                        })
                    }
                }
            } onCancel: {
                cancelled.set()
            }
            jobs.end(.finished)
            return result
        } catch {
            jobs.end(error is CancellationError ? .cancelled : .failed)
            throw error
        }
    }
}

/// Sliced jobs running, finished, cancelled (their client hung up) and failed; at most `limit` at once.
final class JobCounts: @unchecked Sendable {
    enum Outcome { case finished, cancelled, failed }
    let limit: Int
    private let lock = NSLock()
    private var running = 0, finished = 0, cancelled = 0, failed = 0

    init(limit: Int) { self.limit = limit }

    func start() throws {
        let admitted = lock.withLock {
            guard running < limit else { return false }
            running += 1
            return true
        }
        guard admitted else { throw APIError(.serviceUnavailable, "\(limit) graphs or sweeps are running already: try again when one is done") }
    }

    func end(_ outcome: Outcome) {
        lock.withLock {
            running -= 1
            switch outcome {
            case .finished: finished += 1
            case .cancelled: cancelled += 1
            case .failed: failed += 1
            }
        }
    }

    var json: [String: Int] {
        lock.withLock { ["running": running, "finished": finished, "cancelled": cancelled, "failed": failed, "limit": limit] }
    }
}

extension LanternServer {
    /// Server-sent events for a sliced job: `progress` {done, total} at each slice, then `done` (the
    /// JSON its plain endpoint returns) or `error` {error}. A client that hangs up ends the stream at
    /// a later write, which cancels the job (it stops at its next slice). The job waits at each
    /// progress call until that event is written, so it cannot run on while the writer is not
    /// scheduled (a busy machine) and finish before the hang-up is noticed.
    func slicedStream(_ work: @escaping @Sendable (_ progress: @escaping @Sendable (Int, Int) -> Void) async throws -> Data) -> Response {
        let body = ResponseBody { writer in
            let (events, sink) = AsyncStream.makeStream(of: (done: Int, total: Int).self, bufferingPolicy: .bufferingNewest(1))
            let gate = EventGate()
            async let result: Data = { () async throws -> Data in
                defer { sink.finish() }
                return try await work { done, total in
                    gate.post()
                    sink.yield((done: done, total: total))
                    gate.waitUntilWritten()
                }
            }()
            func send(_ event: String, _ data: Data) async throws {
                var buffer = ByteBuffer(string: "event: \(event)\ndata: ")
                buffer.writeBytes(data)
                buffer.writeString("\n\n")
                try await writer.write(buffer)
            }
            do {
                try await send("start", Data("{}".utf8))
                for await step in events {
                    try await send("progress", try JSONResponse.encode(["done": step.done, "total": step.total]))
                    gate.written()
                }
                try await send("done", try await result)
            } catch let error as APIError {
                try? await send("error", try JSONResponse.encode(["error": error.message]))
            } catch let error as LanternError {
                try? await send("error", try JSONResponse.encode(["error": String(describing: error)]))
            } catch {
                // The client is gone: let the job past its progress call, to be cancelled at its next one.
                gate.end()
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }
}

/// A stream's progress events in step with its writer: `post` before an event is queued,
/// `waitUntilWritten` blocks the job's thread (a worker of its own, never Swift concurrency's) until
/// the writer says `written`, or the stream has `end`ed.
final class EventGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var unwritten = 0, ended = false

    func post() { condition.withLock { unwritten += 1 } }

    func waitUntilWritten() {
        condition.withLock { while unwritten > 0 && !ended { condition.wait() } }
    }

    func written() {
        condition.withLock { unwritten = max(unwritten - 1, 0); condition.broadcast() }
    }

    func end() {
        condition.withLock { ended = true; condition.broadcast() }
    }
}
