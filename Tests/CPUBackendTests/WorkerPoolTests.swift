import Foundation
import XCTest
@testable import CPUBackend
@testable import LanternCore

/// The persistent pool behind `Parallel`: every index runs exactly once per job, over many jobs
/// in a row (the generation/claim protocol), with nested and concurrent callers (which fall back
/// to Dispatch) and after the workers have gone to sleep.
final class WorkerPoolTests: XCTestCase {
    /// Runs `run` with a counter per index (each index is written by one worker only; a second
    /// visit would still show as a 2) and returns the counts.
    func count(_ n: Int, _ run: (UncheckedBox<UnsafeMutablePointer<Int>>) -> Void) -> [Int] {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: n)
        hits.initialize(repeating: 0, count: n)
        defer { hits.deallocate() }
        run(UncheckedBox(hits))
        return Array(UnsafeBufferPointer(start: hits, count: n))
    }

    func testEveryIndexOnceOverManyJobs() {
        for job in 0..<5_000 {
            let n = 1 + job % 37
            let hits = count(n) { box in Parallel.forEach(n) { box.value[$0] += 1 } }
            if hits != [Int](repeating: 1, count: n) { XCTFail("job \(job): \(hits)"); return }
        }
    }

    func testAfterTheWorkersSleep() {
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(count(1000) { box in Parallel.forEach(1000) { box.value[$0] += 1 } }, [Int](repeating: 1, count: 1000))
    }

    func testNestedAndConcurrentCallersFallBack() {
        let outer = 8, inner = 50
        let hits = count(outer * inner) { box in
            Parallel.forEach(outer) { o in
                Parallel.forEach(inner) { i in box.value[o * inner + i] += 1 }
            }
        }
        XCTAssertEqual(hits, [Int](repeating: 1, count: outer * inner))
        let threads = 4, n = 500
        let all = count(threads * n) { box in
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                Parallel.forEach(n) { i in box.value[t * n + i] += 1 }
            }
        }
        XCTAssertEqual(all, [Int](repeating: 1, count: threads * n))
    }

    func testRangesCoverEverything() {
        let hits = count(100_003) { box in
            Parallel.forRanges(100_003, minChunk: 7) { range in for i in range { box.value[i] += 1 } }
        }
        XCTAssertEqual(hits, [Int](repeating: 1, count: 100_003))
    }
}
