import Foundation
import Synchronization

/// Persistent worker threads for `Parallel`: one per core beyond the caller's, which spin between
/// jobs for up to `spin` and then sleep. A decode step runs ~170 parallel ops of a few tens of
/// microseconds each; waking Dispatch's workers for every one of them (a fork/join per op) cost
/// a noticeable part of each op. The caller always works on its own job too.
///
/// The spin is timed, not counted: a worker that falls asleep between two ops of a forward pass
/// takes longer to wake (a futex, and on a VM the host's scheduler) than a small op takes, so the
/// caller does the whole op alone. Counted at 4,000 checks of the ticket (a few microseconds), the
/// worker slept before 63% of SmolLM2's decode jobs and ran 31% of their chunks; at 40,000 checks
/// it slept 27 times in the run and ran half.
///
/// One job at a time: a call made while a job runs (from a worker, or from another thread) goes
/// to Dispatch instead. The job's indices are claimed through one atomic `ticket` holding the
/// job's generation, its size and the next index, so a worker that wakes late for a finished job
/// can claim nothing of the next one; `body` is read only after a successful claim, and the
/// caller replaces it only once every claimed index has been reported done.
final class WorkerPool: @unchecked Sendable {
    /// `LANTERN_WORKER_POOL=0` turns it off (every op then forks and joins through Dispatch).
    static let shared = WorkerPool(workers: ProcessInfo.processInfo.environment["LANTERN_WORKER_POOL"] == "0" ? 0 : Parallel.cores - 1)

    let workers: Int
    private let busy = Atomic<Bool>(false)
    /// generation (bits 40…) | count (bits 20..<40) | next index (bits 0..<20).
    private let ticket = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let condition = NSCondition()
    private var body: ((Int) -> Void)?
    /// How long a worker checks the ticket before it sleeps: longer than the gaps between the
    /// parallel ops of a forward pass (the serial norms, adds and RoPE between its products), short
    /// enough that a process between passes stops spending a core at once.
    static let spin: Duration = .microseconds(200)
    static let maxCount = 1 << 20

    init(workers: Int) {
        self.workers = max(0, workers)
        for _ in 0..<self.workers {
            let thread = Thread { [unowned self] in self.work() }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private static func generation(_ t: Int) -> Int { t >> 40 }
    private static func count(_ t: Int) -> Int { (t >> 20) & (maxCount - 1) }
    private static func index(_ t: Int) -> Int { t & (maxCount - 1) }

    /// Runs `body(i)` for i in 0..<count on the pool; false (nothing run) when the pool is busy,
    /// has no workers, or `count` does not fit a ticket.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard workers > 0, count > 0, count < Self.maxCount,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            self.body = body
            done.store(0, ordering: .relaxed)
            let generation = (Self.generation(ticket.load(ordering: .relaxed)) + 1) & ((1 << 23) - 1)
            ticket.store(generation << 40 | count << 20, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                condition.lock()
                condition.broadcast()
                condition.unlock()
            }
            claimAndRun(generation)
            var waited = 0
            while done.load(ordering: .acquiring) < count {
                waited += 1
                if waited > 1000 { sched_yield() }
            }
            self.body = nil
        }
        return true
    }

    /// Claims indices of job `generation` until none is left, running each.
    private func claimAndRun(_ generation: Int) {
        while true {
            var t = ticket.load(ordering: .acquiring)
            while true {
                guard Self.generation(t) == generation, Self.index(t) < Self.count(t) else { return }
                let (exchanged, original) = ticket.compareExchange(expected: t, desired: t + 1, ordering: .acquiringAndReleasing)
                if exchanged { break }
                t = original
            }
            body!(Self.index(t))
            done.add(1, ordering: .releasing)
        }
    }

    private func work() {
        var seen = Self.generation(ticket.load(ordering: .acquiring))
        while true {
            let clock = ContinuousClock(), deadline = clock.now + Self.spin
            var checks = 0
            var current = Self.generation(ticket.load(ordering: .acquiring))
            while current == seen {
                checks &+= 1
                // The clock every 256 checks: reading it costs tens of nanoseconds.
                if checks & 255 == 0 && clock.now >= deadline { break }
                current = Self.generation(ticket.load(ordering: .acquiring))
            }
            if current == seen {
                condition.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while Self.generation(ticket.load(ordering: .sequentiallyConsistent)) == seen { condition.wait() }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
                current = Self.generation(ticket.load(ordering: .acquiring))
            }
            seen = current
            claimAndRun(current)
        }
    }
}
