import Foundation

/// One model, one queue: every use of the model (and of the tokenizer, the SAEs and the scans,
/// none of which is thread-safe) runs here, one job at a time, in arrival order. Long work is cut
/// into one job per forward pass, so a request waits at most for the pass now running plus the
/// jobs queued before it.
public final class ModelQueue: @unchecked Sendable {
    private let queue = DispatchQueue(label: "lantern.serve.model", qos: .userInitiated)
    private let lock = NSLock()
    private var queuedCount = 0
    private var ranCount = 0
    private var skippedCount = 0
    /// Jobs allowed to wait at once; more are refused (503) rather than queued without end.
    public let capacity: Int

    public init(capacity: Int) { self.capacity = capacity }

    /// Jobs waiting or running now, jobs run, and jobs dropped because their request went away.
    public var counts: (queued: Int, ran: Int, skipped: Int) {
        lock.lock(); defer { lock.unlock() }
        return (queuedCount, ranCount, skippedCount)
    }

    /// Runs `work` on the model's queue. A caller cancelled while its job waits (its client
    /// disconnected) never runs it: the job is dropped when its turn comes.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try Task.checkCancellation()
        let admitted = lock.withLock {
            guard queuedCount < capacity else { return false }
            queuedCount += 1
            return true
        }
        guard admitted else { throw APIError(.serviceUnavailable, "the model's queue is full (\(capacity) jobs): try again shortly") }
        let cancelled = CancelFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                queue.async { [self] in
                    defer { lock.lock(); queuedCount -= 1; lock.unlock() }
                    if cancelled.isSet {
                        lock.lock(); skippedCount += 1; lock.unlock()
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    lock.lock(); ranCount += 1; lock.unlock()
                    continuation.resume(with: Result { try work() })
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// A flag set from any thread (a task's cancellation handler) and read on the model's queue.
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
