/// Token spelling → id, looked up by UTF-8 bytes without building strings.
///
/// Exact byte comparison matters: Swift `String` equality is canonical equivalence, which would
/// merge distinct tokens (`é` vs `e` + U+0301). Lookups by byte slice keep the merge-table build
/// (millions of lookups of token halves) free of allocations.
struct TokenIndex: Sendable {
    private var bytes: [UInt8] = []
    private var starts: [Int32] = []
    private var lengths: [Int32] = []
    private var slots: [Int32]  // id + 1; 0 is empty
    private let mask: Int

    init(_ spellings: [String]) {
        var capacity = 16
        while capacity < spellings.count * 2 { capacity <<= 1 }
        slots = [Int32](repeating: 0, count: capacity)
        mask = capacity - 1
        starts.reserveCapacity(spellings.count)
        lengths.reserveCapacity(spellings.count)
        for (id, spelling) in spellings.enumerated() {
            starts.append(Int32(bytes.count))
            bytes.append(contentsOf: spelling.utf8)
            lengths.append(Int32(spelling.utf8.count))
            insert(Int32(id))
        }
    }

    @inline(__always)
    private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Later ids win over earlier ones with the same spelling, as in a Python dict built in order.
    private mutating func insert(_ id: Int32) {
        let start = Int(starts[Int(id)]), length = Int(lengths[Int(id)])
        let (slot, _) = bytes.withUnsafeBufferPointer { all in
            find(UnsafeBufferPointer(rebasing: all[start..<(start + length)]), in: all)
        }
        slots[slot] = id + 1
    }

    /// The slot holding `key`, or the empty slot where it would go.
    @inline(__always)
    private func find(_ key: UnsafeBufferPointer<UInt8>, in all: UnsafeBufferPointer<UInt8>) -> (Int, Int32?) {
        var slot = Self.hash(key) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { return (slot, nil) }
            let id = Int(entry - 1)
            if Int(lengths[id]) == key.count {
                let start = Int(starts[id])
                if key.count == 0 || memcmp(all.baseAddress! + start, key.baseAddress!, key.count) == 0 {
                    return (slot, Int32(id))
                }
            }
            slot = (slot + 1) & mask
        }
    }

    func id(_ key: UnsafeBufferPointer<UInt8>) -> Int32? {
        bytes.withUnsafeBufferPointer { all in
            // An empty key has no base address; tokens are never looked up empty in practice.
            guard key.baseAddress != nil || key.isEmpty else { return nil }
            if key.isEmpty { return emptyID }
            return find(key, in: all).1
        }
    }

    /// The id of the token spelled as token `left`'s spelling followed by token `right`'s, found
    /// without building that string (Gemma's derived merges are looked up this way, lazily).
    func id(concatenating left: Int32, _ right: Int32) -> Int32? {
        let (a, b) = (Int(left), Int(right))
        guard a >= 0, a < starts.count, b >= 0, b < starts.count else { return nil }
        return bytes.withUnsafeBufferPointer { all in
            let base = all.baseAddress!
            let (aStart, aLength) = (Int(starts[a]), Int(lengths[a]))
            let (bStart, bLength) = (Int(starts[b]), Int(lengths[b]))
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for i in 0..<aLength { h = (h ^ UInt64(base[aStart + i])) &* 0x100_0000_01B3 }
            for i in 0..<bLength { h = (h ^ UInt64(base[bStart + i])) &* 0x100_0000_01B3 }
            var slot = Int(truncatingIfNeeded: h ^ (h >> 29)) & mask
            while true {
                let entry = slots[slot]
                if entry == 0 { return nil }
                let id = Int(entry - 1)
                if Int(lengths[id]) == aLength + bLength {
                    let start = Int(starts[id])
                    if memcmp(base + start, base + aStart, aLength) == 0,
                       memcmp(base + start + aLength, base + bStart, bLength) == 0 {
                        return Int32(id)
                    }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Bytes in token `id`'s spelling.
    func length(_ id: Int32) -> Int { Int(lengths[Int(id)]) }

    /// Whether `id` is the token its spelling looks up (not an earlier duplicate of a later id).
    func isCanonical(_ id: Int32) -> Bool {
        guard id >= 0, Int(id) < starts.count else { return false }
        let start = Int(starts[Int(id)]), length = Int(lengths[Int(id)])
        return bytes.withUnsafeBufferPointer { all in
            length == 0 ? emptyID == id : find(UnsafeBufferPointer(rebasing: all[start..<(start + length)]), in: all).1 == id
        }
    }

    func id(_ key: String) -> Int32? {
        var key = key
        return key.withUTF8 { id($0) }
    }

    private var emptyID: Int32? {
        lengths.lastIndex(of: 0).map(Int32.init)
    }
}

@inline(__always)
private func memcmp(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Int {
    for i in 0..<count where a[i] != b[i] { return 1 }
    return 0
}
