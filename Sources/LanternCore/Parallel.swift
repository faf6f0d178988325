import Foundation

/// Work splitting over the machine's cores: the one parallel loop of every module (kernels, host
/// maths, training). Callers hand it a number of independent chunks.
public enum Parallel {
    public static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body(i)` for i in 0..<count, spread over the cores: on the persistent `WorkerPool`,
    /// or Dispatch when the pool is taken (a nested or concurrent call); inline when there is one
    /// chunk or one core.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if count == 1 || cores == 1 {
            for i in 0..<count { body(i) }
            return
        }
        if WorkerPool.shared.run(count, body) { return }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
        }
    }

    /// Splits 0..<total into about `cores × oversplit` ranges of at least `minChunk` and runs them.
    public static func forRanges(_ total: Int, minChunk: Int = 1, oversplit: Int = 4, _ body: (Range<Int>) -> Void) {
        if total <= 0 { return }
        let chunks = max(1, min(cores * oversplit, total / max(minChunk, 1)))
        let size = (total + chunks - 1) / chunks
        forEach((total + size - 1) / size) { c in
            body((c * size)..<min(total, (c + 1) * size))
        }
    }
}

/// Carries a non-Sendable value where Swift cannot see that one thread at a time touches it: into
/// Dispatch's workers (kernels that write disjoint parts of their output), or across an `await`
/// (the server's values that only its model queue touches).
public final class UncheckedBox<T>: @unchecked Sendable {
    public var value: T
    public init(_ value: T) { self.value = value }
}
