import Foundation

/// One model, one queue: every use of the model (and of the tokenizer, the SAEs and the scans,
/// none of which is thread-safe) runs here, one job at a time, in arrival order. Long work is cut
/// into one job per forward pass, so a request waits at most for the pass now running plus the
/// jobs queued before it.
public final class ModelQueue: @unchecked Sendable {
    fileprivate let queue = DispatchQueue(label: "lantern.serve.model", qos: .userInitiated)
    fileprivate let lock = NSLock()
    fileprivate var queuedCount = 0
    fileprivate var ranCount = 0
    fileprivate var skippedCount = 0
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

extension ModelQueue {
    /// Blocks the calling thread (a worker of its own: never the model's queue, never a Swift
    /// concurrency thread) until the queue reaches this job, then holds the queue (nothing else
    /// runs) until the hold is released: long synchronous work runs on the worker in slices, each
    /// slice one hold. A hold whose flag was set while it waited is dropped (CancellationError).
    func hold(_ cancelled: CancelFlag) throws -> QueueHold {
        guard !cancelled.isSet else { throw CancellationError() }
        let admitted = lock.withLock {
            guard queuedCount < capacity else { return false }
            queuedCount += 1
            return true
        }
        guard admitted else { throw APIError(.serviceUnavailable, "the model's queue is full (\(capacity) jobs): try again shortly") }
        let granted = DispatchSemaphore(value: 0), hold = QueueHold()
        let skipped = CancelFlag()
        queue.async { [self] in
            defer { lock.lock(); queuedCount -= 1; lock.unlock() }
            if cancelled.isSet {
                lock.lock(); skippedCount += 1; lock.unlock()
                skipped.set()
                granted.signal()
                return
            }
            lock.lock(); ranCount += 1; lock.unlock()
            granted.signal()
            hold.released.wait()
        }
        granted.wait()
        if skipped.isSet { throw CancellationError() }
        return hold
    }
}

/// The model's queue held by a worker thread until `release()` (idempotent).
final class QueueHold: @unchecked Sendable {
    fileprivate let released = DispatchSemaphore(value: 0)
    private let flag = CancelFlag()
    func release() {
        guard !flag.testAndSet() else { return }
        released.signal()
    }
}

/// A flag set from any thread (a task's cancellation handler) and read on the model's queue.
final class CancelFlag: @unchecked Sendable {
    fileprivate let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
    /// Sets the flag and says whether it was set already.
    func testAndSet() -> Bool { lock.lock(); defer { lock.unlock() }; let was = value; value = true; return was }
}
