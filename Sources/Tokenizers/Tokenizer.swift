import Foundation
import LanternCore

/// Text ↔ token ids for a SentencePiece-style (Gemma) or byte-level BPE (GPT-2, SmolLM2) vocabulary,
/// matching Hugging Face `tokenizers` on the same vocabulary.
///
/// Encoding: control tokens (`<start_of_turn>`, `<|im_end|>`) are found in the text only when
/// `parseSpecial` is set; user-defined tokens (Gemma's runs of newlines and tabs, HTML tags) are
/// always matched whole. The text between them is BPE-merged: SentencePiece-style, spaces become
/// `▁` and characters outside the vocabulary fall back to `<0xNN>` byte tokens; byte-level, the text
/// is split by the vocabulary's pre-tokenizer (GPT-2's or Qwen 2's, after NFC where its
/// tokenizer.json says so) and each piece's bytes are merged by rank.
public final class Tokenizer: @unchecked Sendable {
    public let vocabulary: TokenizerVocabulary
    /// The spelling BPE looks tokens up by (the vocabulary's, except for GGUF quirks it repairs).
    let spellings: [String]
    let idOf: TokenIndex
    let merges: BPEMerges
    let matcher: AddedTokenMatcher
    /// SentencePiece: the id of each single-character token, by code point.
    let scalarIDs: [UInt32: Int32]
    /// SentencePiece: the `<0xNN>` token of each byte (or -1). Byte-level: the token of each byte's letter.
    let byteIDs: [Int32]
    let isSpecial: [Bool]

    let cacheLock = NSLock()
    var wordCache: [ExactString: [Int32]] = [:]
    var chunkCache: [[Int32]: [Int32]] = [:]
    /// SentencePiece: characters other than `▁` that some token has right before a `▁` (Gemma: `>`
    /// of `>▁</`). Text is cut into independent chunks before every other `▁`.
    let spaceJoiners: Set<UInt32>

    public var vocabSize: Int { vocabulary.tokens.count }
    public var bos: Int32? { vocabulary.bosID }
    public var eos: Int32? { vocabulary.eosID }
    public var kind: TokenizerVocabulary.Kind { vocabulary.kind }

    /// `tabulateDerivedMerges` builds Gemma's derived merge table instead of looking merges up
    /// lazily (the tests' reference; the ids are the same).
    public init(vocabulary: TokenizerVocabulary, tabulateDerivedMerges: Bool = false) throws {
        try vocabulary.validate()
        self.vocabulary = vocabulary
        let tokens = vocabulary.tokens
        let sentencePiece = vocabulary.kind == .sentencePiece

        // GGUF spells Gemma's runs of spaces with real spaces, and byte-level GGUFs may spell a token
        // plainly; BPE knows them as `▁▁…` and in the byte alphabet. Gemma's are never matched whole;
        // a byte-level vocabulary's added tokens are (GPT-NeoX's runs of spaces), as in transformers.
        var spellings = tokens
        var respelled = [Bool](repeating: false, count: tokens.count)
        for (id, token) in tokens.enumerated() {
            if sentencePiece {
                if token.utf8.contains(0x20), token.unicodeScalars.allSatisfy(\.properties.isWhitespace) {
                    spellings[id] = String(repeating: "\u{2581}", count: token.unicodeScalars.count)
                    respelled[id] = true
                }
            } else if !ByteLevel.isSpelled(token) {
                spellings[id] = ByteLevel.spell(token.utf8)
                respelled[id] = true
            }
        }
        let idOf = TokenIndex(spellings)

        var matcher = AddedTokenMatcher()
        var isSpecial = [Bool](repeating: false, count: tokens.count)
        for id in tokens.indices where !respelled[id] || !sentencePiece {
            switch vocabulary.type(of: id) {
            case .control, .unknown:
                isSpecial[id] = true
                matcher.add(tokens[id], id: Int32(id), special: true)
            case .userDefined:
                matcher.add(tokens[id], id: Int32(id), special: false)
            default: break
            }
        }

        var scalarIDs: [UInt32: Int32] = [:]
        var byteIDs = [Int32](repeating: -1, count: 256)
        if sentencePiece {
            for (id, spelling) in spellings.enumerated() {
                // One scalar (checked on the UTF-8 length: counting scalars of every token was slow).
                if let first = spelling.unicodeScalars.first, UTF8.width(first) == spelling.utf8.count {
                    scalarIDs[first.value] = idOf.id(spelling)
                }
                if let byte = Self.byteTokenValue(spelling), vocabulary.type(of: id) == .byte || vocabulary.types.isEmpty {
                    if byteIDs[Int(byte)] < 0 { byteIDs[Int(byte)] = Int32(id) }
                }
            }
        } else {
            for byte in 0..<256 { byteIDs[byte] = idOf.id(String(ByteLevel.byteToScalar[byte])) ?? -1 }
        }

        var spaceJoiners = Set<UInt32>()
        if sentencePiece {
            // Only spellings with a `▁` (E2 96 81) after their first byte are walked scalar by scalar.
            for spelling in spellings where spelling.utf8.dropFirst().contains(0x81) {
                var previous: Unicode.Scalar?
                for scalar in spelling.unicodeScalars {
                    if scalar == "\u{2581}", let previous, previous != "\u{2581}" { spaceJoiners.insert(previous.value) }
                    previous = scalar
                }
            }
        }
        self.spaceJoiners = spaceJoiners
        self.spellings = spellings
        self.idOf = idOf
        self.matcher = matcher
        self.scalarIDs = scalarIDs
        self.byteIDs = byteIDs
        self.isSpecial = isSpecial
        self.merges = try Self.buildMerges(vocabulary, spellings: spellings, idOf: idOf, tabulateDerived: tabulateDerivedMerges)
    }

    /// `0xNN` for a token spelled `<0xNN>`.
    static func byteTokenValue(_ token: String) -> UInt8? {
        guard token.utf8.count == 6 else { return nil }
        let utf8 = Array(token.utf8)
        guard utf8.count == 6, utf8[0] == UInt8(ascii: "<"), utf8[1] == UInt8(ascii: "0"),
              utf8[2] == UInt8(ascii: "x"), utf8[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16)
    }

    /// What token `id` decodes to, as bytes (byte tokens: their byte). Made on demand: making it
    /// for every token of a 262 144-token vocabulary cost ~0.1 s of every command's start-up.
    func tokenBytes(_ id: Int) -> [UInt8] {
        guard vocabulary.kind == .sentencePiece else { return ByteLevel.bytes(of: vocabulary.tokens[id]) }
        let spelling = spellings[id]
        if let byte = Self.byteTokenValue(spelling), vocabulary.type(of: id) == .byte || vocabulary.types.isEmpty {
            return [byte]
        }
        // `▁` (E2 96 81) decodes to a space.
        var out: [UInt8] = []
        let utf8 = Array(spelling.utf8)
        out.reserveCapacity(utf8.count)
        var i = 0
        while i < utf8.count {
            if i + 2 < utf8.count, utf8[i] == 0xE2, utf8[i + 1] == 0x96, utf8[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(utf8[i])
                i += 1
            }
        }
        return out
    }

    // MARK: Lookup

    /// The id of a token spelled exactly `token` (in the vocabulary's spelling), if any.
    public func id(of token: String) -> Int32? { idOf.id(token) }

    /// Whether `id` is a control (special) token, which `decode(skipSpecial: true)` leaves out.
    public func isSpecial(_ id: Int32) -> Bool { id >= 0 && Int(id) < isSpecial.count && isSpecial[Int(id)] }

    /// Each token's own text when decoded alone (`" world"`; a lone byte of a longer character: U+FFFD).
    public func pieceTexts(_ ids: [Int32]) -> [String] {
        ids.map { String(decoding: bytes(of: $0), as: UTF8.self) }
    }

    /// The tokens' strings as the vocabulary spells them (`▁world`, `Ġworld`, `<0x0A>`), for display.
    public func pieces(_ ids: [Int32]) -> [String] {
        ids.map { $0 >= 0 && Int($0) < spellings.count ? spellings[Int($0)] : "<invalid \($0)>" }
    }
}

/// A string that hashes and compares by its UTF-8 bytes. Swift's `String` compares by canonical
/// equivalence, which would merge distinct tokens such as `é` and `e` + U+0301.
struct ExactString: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (a: ExactString, b: ExactString) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    func hash(into hasher: inout Hasher) {
        var string = string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
