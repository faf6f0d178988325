extension Tokenizer {
    /// The text of `ids`. `skipSpecial` leaves control tokens (BOS, EOS, `<start_of_turn>`) out.
    /// Bytes that do not form UTF-8 become U+FFFD, as in Hugging Face `tokenizers`: one per byte
    /// token in a SentencePiece byte run, one per invalid sequence in byte-level text.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        switch vocabulary.kind {
        case .byteLevelBPE:
            for id in ids where isValid(id) && !(skipSpecial && isSpecial(id)) {
                bytes.append(contentsOf: tokenBytes(Int(id)))
            }
            return String(decoding: bytes, as: UTF8.self)
        case .sentencePiece:
            var text = ""
            var run: [UInt8] = []
            func flushRun() {
                guard !run.isEmpty else { return }
                if let valid = String(validating: run, as: UTF8.self) {
                    text += valid
                } else {
                    text += String(repeating: "\u{FFFD}", count: run.count)
                }
                run.removeAll(keepingCapacity: true)
            }
            for id in ids where isValid(id) && !(skipSpecial && isSpecial(id)) {
                if isByteToken(id) {
                    run.append(tokenBytes(Int(id))[0])
                } else {
                    flushRun()
                    text += String(decoding: tokenBytes(Int(id)), as: UTF8.self)
                }
            }
            flushRun()
            // By scalar: a space followed by a combining mark is one Character.
            if vocabulary.addSpacePrefix, text.unicodeScalars.first == " " { text.unicodeScalars.removeFirst() }
            return text
        }
    }

    @inline(__always)
    func isValid(_ id: Int32) -> Bool { id >= 0 && Int(id) < vocabulary.tokens.count }

    @inline(__always)
    func isByteToken(_ id: Int32) -> Bool {
        guard vocabulary.kind == .sentencePiece else { return false }
        let bytes = tokenBytes(Int(id))
        return bytes.count == 1 && byteIDs[Int(bytes[0])] == id
    }

    /// The bytes token `id` stands for when decoded (empty for an id outside the vocabulary).
    public func bytes(of id: Int32) -> [UInt8] { isValid(id) ? tokenBytes(Int(id)) : [] }
}

/// Turns ids into text as they arrive (generation), never splitting a UTF-8 sequence: bytes of an
/// incomplete character wait for the tokens that complete it.
public struct StreamingDecoder: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecial: Bool
    private var pending: [UInt8] = []
    private var atStart = true

    public init(tokenizer: Tokenizer, skipSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// The text that became complete with `id` (often empty while a character is incomplete).
    public mutating func push(_ id: Int32) -> String {
        guard tokenizer.isValid(id), !(skipSpecial && tokenizer.isSpecial(id)) else { return "" }
        pending.append(contentsOf: tokenizer.bytes(of: id))
        if atStart, tokenizer.vocabulary.kind == .sentencePiece, tokenizer.vocabulary.addSpacePrefix {
            guard !pending.isEmpty else { return "" }
            if pending[0] == UInt8(ascii: " ") { pending.removeFirst() }
        }
        if !pending.isEmpty { atStart = false }
        let cut = Self.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Whatever is left (an unfinished character becomes U+FFFD); the decoder starts afresh.
    public mutating func finish() -> String {
        let text = String(decoding: pending, as: UTF8.self)
        pending.removeAll()
        atStart = true
        return text
    }

    /// How many leading bytes of `bytes` can be emitted: all, except a trailing sequence that is a
    /// valid but incomplete start of a character.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        var start = count - 1
        // Find the lead byte of the last sequence (at most 3 continuation bytes back).
        while start >= 0, count - start <= 4, bytes[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= 0, count - start <= 4 else { return count }
        let lead = bytes[start]
        let needed: Int
        switch lead {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: return count  // ASCII or an invalid lead: nothing to wait for
        }
        let have = count - start
        if have >= needed { return count }
        // Second-byte limits of UTF-8 (no overlongs, surrogates or values past U+10FFFF).
        if have >= 2 {
            let second = bytes[start + 1]
            let ok: Bool = switch lead {
            case 0xE0: second >= 0xA0
            case 0xED: second <= 0x9F
            case 0xF0: second >= 0x90
            case 0xF4: second <= 0x8F
            default: true
            }
            if !ok { return count }
        }
        return start
    }
}
