import Formats
import Foundation
import Lantern
@testable import Tokenizers
import XCTest

/// Mistral-, OLMo 2- and Pythia-style tokenizers made locally (tools/make_family_tokenizer_fixtures.py:
/// small BPEs trained under each family's normaliser and pre-tokenizer, saved as the family saves
/// them): ids, literal ids and decodings as transformers gives them on ~140 texts each, from the
/// tokenizer.json and, for OLMo 2 and Pythia, from the same vocabulary as a GGUF stores it.
final class FamilyTokenizerTests: XCTestCase {
    static let folder = RealModels.fixtureDirectory

    func expected(_ name: String) throws -> RealModels.Fixture {
        try JSONDecoder().decode(RealModels.Fixture.self, from: Data(contentsOf: Self.folder.appendingPathComponent("\(name).json")))
    }

    func gguf(_ name: String) throws -> Tokenizer {
        try Tokenizer(vocabulary: try TokenizerVocabulary(gguf: try GGUFFile(path: Self.folder.appendingPathComponent("\(name).gguf").path)))
    }

    /// SentencePiece-style BPE with byte fallback: "▁" before the first piece only (Metaspace,
    /// prepend_scheme "first"), <s> before every text, [INST] and [/INST] as special tokens.
    func testMistral() throws {
        let (vocabulary, fixture) = try RealModels.load("mistral-tiny")
        XCTAssertEqual(vocabulary.kind, .sentencePiece)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(tokenizer.bos, fixture.bos_token_id)
        XCTAssertEqual(tokenizer.encode("[INST]", addBOS: false, parseSpecial: true).count, 1)
        XCTAssertEqual(RealModels.check(tokenizer, fixture, label: "mistral-tiny (tokenizer.json)"), fixture.cases.count)
    }

    /// cl100k's split (digits in runs of three, contractions in any case), from the tokenizer.json's
    /// Split and from a GGUF whose pre-tokenizer is "dbrx", as OLMo 2's files say.
    func testOLMo2() throws {
        let (vocabulary, fixture) = try RealModels.load("olmo2-tiny")
        XCTAssertEqual(vocabulary.split, .llama3)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(tokenizer.eos, fixture.eos_token_id)
        XCTAssertEqual(RealModels.check(tokenizer, fixture, label: "olmo2-tiny (tokenizer.json)"), fixture.cases.count)
        let expected = try self.expected("olmo2-tiny-gguf")
        XCTAssertEqual(RealModels.check(try gguf("olmo2-tiny"), expected, label: "olmo2-tiny (GGUF)"), expected.cases.count)
    }

    /// GPT-NeoX's: GPT-2's split after NFC, and runs of spaces as added (not special) tokens that
    /// match before the split.
    func testPythia() throws {
        let (vocabulary, fixture) = try RealModels.load("pythia-tiny")
        XCTAssertEqual(vocabulary.split, .gpt2)
        XCTAssertTrue(vocabulary.normalizesNFC)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(tokenizer.encode("a    b", addBOS: false).count, 3, "four spaces are one added token")
        XCTAssertEqual(RealModels.check(tokenizer, fixture, label: "pythia-tiny (tokenizer.json)"), fixture.cases.count)
        let expected = try self.expected("pythia-tiny-gguf")
        XCTAssertEqual(RealModels.check(try gguf("pythia-tiny"), expected, label: "pythia-tiny (GGUF)"), expected.cases.count)
    }

    /// cl100k's pieces where they differ from Qwen 2's: digits in runs of up to three.
    func testCl100kPieces() {
        let scalars = Array("in 2024, 1234567 x".unicodeScalars)
        let pieces = QwenSplit.split(scalars, digitRun: 3).map { range in
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[range])
            return String(view)
        }
        // From the tokenizers package's Split with the cl100k regex.
        XCTAssertEqual(pieces, ["in", " ", "202", "4", ",", " ", "123", "456", "7", " x"])
    }
}
