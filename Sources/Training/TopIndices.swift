import Foundation

/// A raw buffer handed to parallel loops that write disjoint parts of it.
struct SharedBuffer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
}

/// The indices of the `k` largest values of `row` among the latents `allowed` says yes to,
/// largest first. Keeps a sorted list of the best so far: most values fail the first comparison.
func topIndices(_ row: UnsafePointer<Float>, count: Int, k: Int, allowed: ((Int) -> Bool)? = nil) -> [Int] {
    if k > 32 { return topIndicesByHeap(row, count: count, k: k, allowed: allowed) }
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

/// The same for large k (AuxK's k_aux = d_in/2): a min-heap of the k best, O(count · log k).
func topIndicesByHeap(_ row: UnsafePointer<Float>, count: Int, k: Int, allowed: ((Int) -> Bool)?) -> [Int] {
    var heap: [Int] = []  // heap[0] is the smallest of the best so far
    heap.reserveCapacity(k)
    func less(_ a: Int, _ b: Int) -> Bool { row[heap[a]] < row[heap[b]] }
    func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count, less(l, m) { m = l }
            if r < heap.count, less(r, m) { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }
    for j in 0..<count {
        if let allowed, !allowed(j) { continue }
        if heap.count < k {
            heap.append(j)
            var i = heap.count - 1
            while i > 0, less(i, (i - 1) / 2) { heap.swapAt(i, (i - 1) / 2); i = (i - 1) / 2 }
        } else if row[j] > row[heap[0]] {
            heap[0] = j
            siftDown(0)
        }
    }
    return heap.sorted { row[$0] > row[$1] }
}
