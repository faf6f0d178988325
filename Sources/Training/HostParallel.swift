import Foundation

/// Splits row loops over the cores. Each call of `body` gets a disjoint range of rows, so bodies
/// that write only their own rows need no locks.
enum HostParallel {
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    static func forRanges(_ total: Int, _ body: @Sendable (Range<Int>) -> Void) {
        guard total > 0 else { return }
        let chunks = min(total, cores * 4)
        let size = (total + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: (total + size - 1) / size) { c in
            body((c * size)..<min(total, (c + 1) * size))
        }
    }
}

/// A raw buffer handed to parallel loops that write disjoint parts of it.
struct SharedBuffer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
}

/// The indices of the `k` largest values of `row` among the latents `allowed` says yes to,
/// largest first. Keeps a sorted list of the best so far: most values fail the first comparison.
func topIndices(_ row: UnsafePointer<Float>, count: Int, k: Int, allowed: ((Int) -> Bool)? = nil) -> [Int] {
    var best: [Int] = []
    best.reserveCapacity(k + 1)
    for j in 0..<count {
        if let allowed, !allowed(j) { continue }
        let v = row[j]
        if best.count == k, v <= row[best[k - 1]] { continue }
        var at = best.count
        while at > 0, row[best[at - 1]] < v { at -= 1 }
        best.insert(j, at: at)
        if best.count > k { best.removeLast() }
    }
    return best
}
