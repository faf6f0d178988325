/// Finds whole-token matches (control and user-defined tokens) in raw text: at the leftmost place
/// where any token starts, the longest one wins, as Hugging Face's added-vocabulary split does.
struct AddedTokenMatcher: Sendable {
    private struct Node: Sendable {
        var children: [UInt8: Int32] = [:]
        var token: Int32 = -1
        var special = false
    }

    private var nodes = [Node()]
    private var firstBytes = [Bool](repeating: false, count: 256)

    var isEmpty: Bool { nodes.count == 1 }

    mutating func add(_ text: String, id: Int32, special: Bool) {
        guard !text.isEmpty else { return }
        var node = 0
        for byte in text.utf8 {
            if let child = nodes[node].children[byte] {
                node = Int(child)
            } else {
                nodes.append(Node())
                let child = Int32(nodes.count - 1)
                nodes[node].children[byte] = child
                node = Int(child)
            }
        }
        if nodes[node].token < 0 {
            nodes[node].token = id
            nodes[node].special = special
        }
        firstBytes[Int(text.utf8.first!)] = true
    }

    enum Segment: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    /// Splits UTF-8 `bytes` into plain-text ranges and matched tokens. Special tokens match only
    /// when `includeSpecial`; a skipped special token's text stays plain text.
    func segments(_ bytes: [UInt8], includeSpecial: Bool) -> [Segment] {
        var segments: [Segment] = []
        var textStart = 0
        var i = 0
        let count = bytes.count
        while i < count {
            guard firstBytes[Int(bytes[i])], let (id, length, special) = longestMatch(bytes, at: i) else {
                i += 1
                continue
            }
            if special && !includeSpecial {
                i += length
                continue
            }
            if textStart < i { segments.append(.text(textStart..<i)) }
            segments.append(.token(id))
            i += length
            textStart = i
        }
        if textStart < count { segments.append(.text(textStart..<count)) }
        return segments
    }

    private func longestMatch(_ bytes: [UInt8], at start: Int) -> (Int32, Int, Bool)? {
        var node = 0
        var best: (Int32, Int, Bool)?
        var i = start
        while i < bytes.count, let child = nodes[node].children[bytes[i]] {
            node = Int(child)
            i += 1
            if nodes[node].token >= 0 { best = (nodes[node].token, i - start, nodes[node].special) }
        }
        return best
    }
}
