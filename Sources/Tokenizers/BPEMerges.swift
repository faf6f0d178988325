/// The merge table of a BPE vocabulary and the merge loop over one word.
///
/// A word starts as a list of symbol ids; the adjacent pair with the best (lowest) rank is merged,
/// leftmost first among equals, until no pair in the table is left. A binary heap of candidate
/// pairs with lazy invalidation keeps this O(n log n) in the word's length, which matters for
/// SentencePiece vocabularies, where a whole line is one word.
struct BPEMerges: Sendable {
    struct Merge: Sendable {
        var rank: Int64
        var result: Int32
    }

    private var table: [UInt64: Merge] = [:]
    /// Gemma's merges, derived from the vocabulary in token order (see `buildMerges`), are not
    /// tabled: `left right` merges iff the two spellings together spell a token, and its rank
    /// orders by that token's id, then the longer left part, exactly as the table would. Building
    /// the table took most of a command's start-up (0.2 s of ~0.6 s for a 262 144-token vocabulary).
    private var derived: TokenIndex?

    init() {}

    init(derivedInTokenOrder index: TokenIndex) { derived = index }

    var count: Int { table.count }

    /// The tabulated pairs (the tests compare the lazy lookup on them).
    var pairs: [(Int32, Int32)] { table.keys.map { (Int32(bitPattern: UInt32($0 >> 32)), Int32(bitPattern: UInt32($0 & 0xFFFF_FFFF))) } }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Adds `left right → result` with `rank` unless the pair already has a better one.
    mutating func add(left: Int32, right: Int32, result: Int32, rank: Int64) {
        let key = Self.key(left, right)
        if let existing = table[key], existing.rank <= rank { return }
        table[key] = Merge(rank: rank, result: result)
    }

    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> Merge? {
        guard let derived else { return table[Self.key(left, right)] }
        // Only the tokens each half's spelling looks up take part, as in the table's build.
        guard derived.length(left) > 0, derived.length(right) > 0,
              let result = derived.id(concatenating: left, right),
              derived.isCanonical(left), derived.isCanonical(right) else { return nil }
        return Merge(rank: Int64(result) << 32 | Int64(UInt32.max - UInt32(derived.length(left))), result: result)
    }

    private struct Candidate {
        var rank: Int64
        var position: Int32
        var left: Int32
        var right: Int32

        @inline(__always)
        func isBetter(than other: Candidate) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    /// Merges `symbols` in place as far as the table allows.
    func apply(_ symbols: inout [Int32]) {
        let count = symbols.count
        guard count > 1 else { return }
        if count == 2 {
            if let merge = lookup(symbols[0], symbols[1]) { symbols = [merge.result] }
            return
        }
        var ids = symbols
        var previous = [Int32](unsafeUninitializedCapacity: count) { buffer, n in
            for i in 0..<count { buffer[i] = Int32(i) - 1 }
            n = count
        }
        var next = [Int32](unsafeUninitializedCapacity: count) { buffer, n in
            for i in 0..<count { buffer[i] = i + 1 < count ? Int32(i + 1) : -1 }
            n = count
        }
        var heap: [Candidate] = []
        heap.reserveCapacity(count)
        for i in 0..<(count - 1) {
            if let merge = lookup(ids[i], ids[i + 1]) {
                push(&heap, Candidate(rank: merge.rank, position: Int32(i), left: ids[i], right: ids[i + 1]))
            }
        }
        while let candidate = pop(&heap) {
            let position = Int(candidate.position)
            // Stale: the left symbol was merged away, or either side changed since this was pushed.
            guard ids[position] == candidate.left else { continue }
            let rightPosition = Int(next[position])
            guard rightPosition >= 0, ids[rightPosition] == candidate.right else { continue }
            guard let merge = lookup(candidate.left, candidate.right), merge.rank == candidate.rank else { continue }
            ids[position] = merge.result
            ids[rightPosition] = -1
            let after = next[rightPosition]
            next[position] = after
            if after >= 0 { previous[Int(after)] = Int32(position) }
            let before = previous[position]
            if before >= 0, let m = lookup(ids[Int(before)], merge.result) {
                push(&heap, Candidate(rank: m.rank, position: before, left: ids[Int(before)], right: merge.result))
            }
            if after >= 0, let m = lookup(merge.result, ids[Int(after)]) {
                push(&heap, Candidate(rank: m.rank, position: Int32(position), left: merge.result, right: ids[Int(after)]))
            }
        }
        symbols.removeAll(keepingCapacity: true)
        var i: Int32 = 0
        while i >= 0 {
            symbols.append(ids[Int(i)])
            i = next[Int(i)]
        }
    }

    private func push(_ heap: inout [Candidate], _ candidate: Candidate) {
        heap.append(candidate)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].isBetter(than: heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func pop(_ heap: inout [Candidate]) -> Candidate? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            let count = heap.count
            while true {
                let left = 2 * parent + 1
                guard left < count else { break }
                var best = left
                if left + 1 < count, heap[left + 1].isBetter(than: heap[left]) { best = left + 1 }
                guard heap[best].isBetter(than: heap[parent]) else { break }
                heap.swapAt(best, parent)
                parent = best
            }
        }
        return top
    }
}
