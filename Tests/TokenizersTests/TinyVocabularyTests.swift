import LanternCore
@testable import Tokenizers
import XCTest

/// Hand-made vocabularies of each kind: merges, byte fallback, special tokens, streaming. No files.
final class TinyVocabularyTests: XCTestCase {
    /// SentencePiece-style: 0-3 control, 4 `<start_of_turn>` control, 5 `\n\n` user-defined,
    /// 6...261 the byte tokens, then pieces.
    static func sentencePiece(merges: [String] = ["a b", "▁ ab", "ab c", "▁ab c", "▁ a"], bytes: Bool = true,
                              extra: [String] = []) -> TokenizerVocabulary {
        var tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "\n\n"]
        var types: [TokenizerVocabulary.TokenType] = [.control, .control, .control, .control, .control, .userDefined]
        if bytes {
            for byte in 0..<256 {
                tokens.append("<0x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2) + ">")
                types.append(.byte)
            }
        }
        for piece in ["▁", "a", "b", "c", "ab", "▁a", "▁ab", "abc", "▁abc", "bc"] + extra {
            tokens.append(piece)
            types.append(.normal)
        }
        return TokenizerVocabulary(kind: .sentencePiece, tokens: tokens, types: types, merges: merges,
                                   bosID: 2, eosID: 1, unknownID: 3, paddingID: 0, addBOS: true)
    }

    func testSentencePieceMergesAndSpaces() throws {
        let t = try Tokenizer(vocabulary: Self.sentencePiece())
        XCTAssertEqual(t.pieces(t.encode("abc ab", addBOS: false)), ["abc", "▁ab"])
        XCTAssertEqual(t.encode("abc").first, 2, "BOS as the vocabulary says")
        XCTAssertEqual(t.decode(t.encode("abc ab")), "<bos>abc ab")
        XCTAssertEqual(t.decode(t.encode("abc ab"), skipSpecial: true), "abc ab")
        XCTAssertEqual(t.encode("", addBOS: true), [2])
        XCTAssertEqual(t.encode("", addBOS: false), [])
    }

    func testMergeRankDecides() throws {
        // With "b c" ranked first, "abc" can no longer become `ab` + `c` → `abc`.
        let t = try Tokenizer(vocabulary: Self.sentencePiece(merges: ["b c", "a b", "ab c"]))
        XCTAssertEqual(t.pieces(t.encode("abc", addBOS: false)), ["a", "bc"])
    }

    func testDerivedMergesFollowTokenOrderOrScores() throws {
        // No merges (a GGUF): they are rebuilt from the vocabulary. `ab` precedes `bc` in token order,
        // but `bc` has the better score.
        var vocabulary = TokenizerVocabulary(kind: .sentencePiece, tokens: ["a", "b", "c", "ab", "bc"],
                                             scores: [0, 0, 0, -5, -1], derivedMergeOrder: .tokenOrder)
        var t = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(t.pieces(t.encode("abc")), ["ab", "c"])
        vocabulary.derivedMergeOrder = .scores
        t = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(t.pieces(t.encode("abc")), ["a", "bc"])
    }

    func testByteFallbackAndUnknown() throws {
        let t = try Tokenizer(vocabulary: Self.sentencePiece())
        let ids = t.encode("aé", addBOS: false)
        XCTAssertEqual(t.pieces(ids), ["a", "<0xC3>", "<0xA9>"])
        XCTAssertEqual(t.decode(ids), "aé")
        XCTAssertEqual(t.decode(Array(ids.prefix(2))), "a\u{FFFD}", "a cut byte run decodes to U+FFFD")
        let noBytes = try Tokenizer(vocabulary: Self.sentencePiece(bytes: false))
        XCTAssertEqual(noBytes.pieces(noBytes.encode("aéü😀b", addBOS: false)), ["a", "<unk>", "b"], "unknowns fuse")
    }

    func testSpecialTokensOnlyWhenAsked() throws {
        let t = try Tokenizer(vocabulary: Self.sentencePiece())
        XCTAssertEqual(t.encode("<start_of_turn>a", addBOS: false, parseSpecial: true), [4, t.id(of: "a")!])
        let literal = t.encode("<start_of_turn>a", addBOS: false)
        XCTAssertFalse(literal.contains(4))
        XCTAssertEqual(t.decode(literal), "<start_of_turn>a", "the text survives as bytes")
        // User-defined tokens are matched whole either way.
        XCTAssertEqual(t.encode("a\n\nb", addBOS: false), [t.id(of: "a")!, 5, t.id(of: "b")!])
        XCTAssertTrue(t.isSpecial(4))
        XCTAssertFalse(t.isSpecial(5))
    }

    func testSpacePrefixAndGGUFSpaceRuns() throws {
        var vocabulary = Self.sentencePiece(extra: ["  "])
        let run = Int32(vocabulary.tokens.count - 1)
        vocabulary.types[Int(run)] = .userDefined
        // A GGUF spells a run of spaces with real spaces; BPE knows it as `▁▁`.
        var t = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(t.pieces([run]), ["▁▁"])
        XCTAssertEqual(t.decode([run]), "  ")
        vocabulary.addSpacePrefix = true
        t = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(t.pieces(t.encode("ab", addBOS: false)), ["▁ab"])
        XCTAssertEqual(t.decode(t.encode("ab", addBOS: false)), "ab", "the dummy prefix is removed again")
    }

    /// Byte-level: the 256 byte letters (ids = byte values), then merges.
    static func byteLevel() -> TokenizerVocabulary {
        var tokens = (0..<256).map { String(ByteLevel.byteToScalar[$0]) }
        tokens += ["Ġt", "he", "Ġthe", "<|end|>", "th", "the"]
        var types = [TokenizerVocabulary.TokenType](repeating: .normal, count: tokens.count)
        types[259] = .control
        return TokenizerVocabulary(kind: .byteLevelBPE, tokens: tokens, types: types,
                                   merges: ["Ġ t", "h e", "Ġt he", "t h", "th e"], bosID: 259, eosID: 259)
    }

    func testByteLevelMergesByRank() throws {
        let t = try Tokenizer(vocabulary: Self.byteLevel())
        XCTAssertEqual(t.encode("the the"), [116, 257, 258])
        XCTAssertEqual(t.pieces([258, 10]), ["Ġthe", "Ċ"])
        XCTAssertEqual(t.pieceTexts([258, 10, 0xC3]), [" the", "\n", "\u{FFFD}"])
        XCTAssertEqual(t.decode(t.encode("the the\n\tx")), "the the\n\tx")
        XCTAssertEqual(t.encode("é"), [0xC3, 0xA9])
        XCTAssertEqual(t.encode("x<|end|>", parseSpecial: true), [120, 259])
        XCTAssertEqual(t.encode("x<|end|>").count, 8)
        XCTAssertEqual(t.decode([120, 259], skipSpecial: true), "x")
    }

    func testGPT2Split() {
        func split(_ text: String) -> [String] {
            let scalars = Array(text.unicodeScalars)
            return GPT2Split.split(scalars).map { String(String.UnicodeScalarView(scalars[$0])) }
        }
        XCTAssertEqual(split("Hello world"), ["Hello", " world"])
        XCTAssertEqual(split("I'm they're 'S"), ["I", "'m", " they", "'re", " '", "S"])
        XCTAssertEqual(split("a  b"), ["a", " ", " b"])
        XCTAssertEqual(split("a\n\nb"), ["a", "\n", "\n", "b"])
        XCTAssertEqual(split("x   "), ["x", "   "])
        XCTAssertEqual(split("123abc 45"), ["123", "abc", " 45"])
        XCTAssertEqual(split("naïve 東京!? 😀!"), ["naïve", " 東京", "!?", " 😀!"])
    }

    func testStreamingNeverSplitsUTF8() throws {
        let t = try Tokenizer(vocabulary: Self.sentencePiece())
        let ids = t.encode("aé😀b", addBOS: false)  // a, 2 byte tokens, 4 byte tokens, b
        var stream = StreamingDecoder(tokenizer: t)
        let pieces = ids.map { stream.push($0) }
        XCTAssertEqual(pieces, ["a", "", "é", "", "", "", "😀", "b"])
        XCTAssertEqual(stream.finish(), "")
        // An unfinished character at the end comes out as U+FFFD.
        var cut = StreamingDecoder(tokenizer: t)
        XCTAssertEqual(cut.push(ids[1]), "")
        XCTAssertEqual(cut.finish(), "\u{FFFD}")

        let b = try Tokenizer(vocabulary: Self.byteLevel())
        var bytes = StreamingDecoder(tokenizer: b)
        XCTAssertEqual([0xE6, 0x9D, 0xB1, 0x21].map { bytes.push(Int32($0)) }, ["", "", "東", "!"])
    }

    func testCompletePrefixLength() {
        XCTAssertEqual(StreamingDecoder.completePrefixLength([0x61, 0xE6, 0x9D]), 1)
        XCTAssertEqual(StreamingDecoder.completePrefixLength([0x61, 0xE6, 0x9D, 0xB1]), 4)
        XCTAssertEqual(StreamingDecoder.completePrefixLength([0xFF, 0x80]), 2, "invalid bytes do not wait")
        XCTAssertEqual(StreamingDecoder.completePrefixLength([0xE0, 0x80]), 2, "an overlong start does not wait")
        XCTAssertEqual(StreamingDecoder.completePrefixLength([0xF0]), 0)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
