import Foundation
import LanternServer
import XCTest

/// The model's queue: jobs run one at a time in order; a job whose caller went away never runs.
final class ModelQueueTests: XCTestCase {
    func testCancelledWaitingJobIsDroppedAndOthersRunInOrder() async throws {
        let queue = ModelQueue(capacity: 8)
        let gate = DispatchSemaphore(value: 0)
        let log = Log()
        let first = Task { try await queue.run { gate.wait(); log.add("first") } }
        while queue.counts.queued < 1 { try await Task.sleep(nanoseconds: 1_000_000) }
        let cancelled = Task { try await queue.run { log.add("cancelled") } }
        let third = Task { try await queue.run { log.add("third") } }
        while queue.counts.queued < 3 { try await Task.sleep(nanoseconds: 1_000_000) }
        cancelled.cancel()
        gate.signal()
        try await first.value
        try await third.value
        let result = await cancelled.result
        XCTAssertThrowsError(try result.get()) { XCTAssertTrue($0 is CancellationError) }
        XCTAssertEqual(log.entries, ["first", "third"])
        XCTAssertEqual(queue.counts.skipped, 1)
        XCTAssertEqual(queue.counts.ran, 2)
    }

    func testFullQueueIsRefused() async throws {
        let queue = ModelQueue(capacity: 1)
        let gate = DispatchSemaphore(value: 0)
        let first = Task { try await queue.run { gate.wait() } }
        while queue.counts.queued < 1 { try await Task.sleep(nanoseconds: 1_000_000) }
        do {
            try await queue.run { }
            XCTFail("a second job over capacity 1 was queued")
        } catch let error as APIError {
            XCTAssertEqual(error.status.code, 503)
        }
        gate.signal()
        try await first.value
    }
}

final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    var entries: [String] { lock.lock(); defer { lock.unlock() }; return list }
    func add(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
}
