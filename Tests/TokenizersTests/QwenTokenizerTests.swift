import Formats
import Foundation
import Lantern
@testable import Tokenizers
import XCTest

/// A Qwen 2 style tokenizer made locally with transformers (tools/make_qwen_tokenizer_fixture.py:
/// a small byte-level BPE trained under Qwen 2's pre-tokenizer and NFC, saved by `Qwen2Tokenizer`
/// with <|endoftext|>, <|im_start|>, <|im_end|>): ids, literal ids and decodings as transformers
/// gives them, from its tokenizer.json and from the same vocabulary as a GGUF stores it.
final class QwenTokenizerTests: XCTestCase {
    static let folder = RealModels.fixtureDirectory

    func fixture(_ name: String) throws -> RealModels.Fixture {
        try JSONDecoder().decode(RealModels.Fixture.self, from: Data(contentsOf: Self.folder.appendingPathComponent("\(name).json")))
    }

    func testFromTokenizerJSON() throws {
        let (vocabulary, fixture) = try RealModels.load("qwen2-tiny")
        XCTAssertEqual(vocabulary.split, .qwen2)
        XCTAssertTrue(vocabulary.normalizesNFC)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        XCTAssertNil(tokenizer.bos, "Qwen adds no BOS")
        XCTAssertEqual(tokenizer.eos, fixture.eos_token_id)
        XCTAssertEqual(tokenizer.vocabSize, fixture.vocab_size)
        for special in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] {
            XCTAssertEqual(tokenizer.encode(special, parseSpecial: true).count, 1, special)
        }
        XCTAssertEqual(RealModels.check(tokenizer, fixture, label: "qwen2-tiny (tokenizer.json)"), fixture.cases.count)
    }

    /// llama.cpp stores the vocabulary with `tokenizer.ggml.pre` "qwen2"; transformers' GGUF loader
    /// then splits with the same regex and normalises nothing (17 of the texts differ from the
    /// tokenizer.json's ids by NFC alone).
    func testFromGGUF() throws {
        let vocabulary = try TokenizerVocabulary(gguf: try GGUFFile(path: Self.folder.appendingPathComponent("qwen2-tiny.gguf").path))
        XCTAssertEqual(vocabulary.split, .qwen2)
        XCTAssertFalse(vocabulary.normalizesNFC)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        let expected = try fixture("qwen2-tiny-gguf")
        XCTAssertEqual(RealModels.check(tokenizer, expected, label: "qwen2-tiny (GGUF)"), expected.cases.count)
    }

    /// Qwen's split where it differs from GPT-2's: single digits, contractions in any case, one
    /// non-letter joined to the letters after it, newlines kept with what precedes them.
    func testSplitPieces() {
        func pieces(_ text: String) -> [String] {
            let scalars = Array(text.unicodeScalars)
            return QwenSplit.split(scalars, digitRun: 1).map { range in
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[range])
                return String(view)
            }
        }
        // Expected pieces from the tokenizers package's Split with the same regex.
        XCTAssertEqual(pieces("in 2024"), ["in", " ", "2", "0", "2", "4"])
        XCTAssertEqual(pieces("DON'T 'Ll"), ["DON", "'T", " '", "Ll"])
        XCTAssertEqual(pieces("x'REd x'ſelf x'Kelf"), ["x", "'RE", "d", " x", "'ſ", "elf", " x", "'Kelf"])
        XCTAssertEqual(pieces("\tx $y (z"), ["\tx", " $", "y", " (", "z"])
        XCTAssertEqual(pieces("a!!\n\nb  \n c"), ["a", "!!\n\n", "b", "  \n", " c"])
        XCTAssertEqual(pieces("end   "), ["end", "   "])
    }

    /// A byte-level tokenizer.json that splits with a regex Lantern does not implement (GPT-4o's)
    /// is refused in one line, not split as GPT-2 would.
    func testOtherSplitPatternIsRefused() throws {
        let gpt4o = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let json: [String: Any] = [
            "model": ["type": "BPE", "vocab": ["a": 0, "b": 1], "merges": [String]()],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": gpt4o], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false]]],
            "decoder": ["type": "ByteLevel"],
        ]
        let data = try JSONSerialization.data(withJSONObject: json)
        XCTAssertThrowsError(try TokenizerVocabulary(hubTokenizerJSON: [UInt8](data), config: nil, source: "t.json")) {
            let text = "\($0)"
            XCTAssertTrue(text.hasPrefix("t.json: pre_tokenizer: the Split pattern"), text)
            XCTAssertTrue(text.contains("is not implemented (GPT-2's, Qwen 2's and cl100k's are)"), text)
            XCTAssertFalse(text.contains("\n"), "one line")
        }
    }
}
