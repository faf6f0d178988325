import Formats
import Foundation
import Lantern
@testable import Tokenizers
import XCTest

/// A GPT-2 style tokenizer made locally with transformers (tools/make_gpt2_tokenizer_fixture.py: a
/// small byte-level BPE trained under GPT-2's pre-tokenizer, saved by `GPT2Tokenizer` with
/// <|endoftext|>): ids, literal ids and decodings as transformers gives them on 140 texts, from its
/// tokenizer.json and from the same vocabulary as a GGUF stores it (`tokenizer.ggml.pre` "gpt-2").
final class GPT2TokenizerTests: XCTestCase {
    static let folder = RealModels.fixtureDirectory

    func testFromTokenizerJSON() throws {
        let (vocabulary, fixture) = try RealModels.load("gpt2-tiny")
        XCTAssertEqual(vocabulary.split, .gpt2)
        XCTAssertFalse(vocabulary.normalizesNFC)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        // <|endoftext|> is BOS, EOS and UNK at once, and no BOS is added to a text (as transformers;
        // TransformerLens prepends it itself).
        XCTAssertEqual(tokenizer.bos, fixture.eos_token_id)
        XCTAssertFalse(vocabulary.addBOS)
        XCTAssertEqual(tokenizer.encode("Hello world").count, tokenizer.encode("Hello world", addBOS: false).count)
        XCTAssertEqual(tokenizer.eos, fixture.eos_token_id)
        XCTAssertEqual(tokenizer.vocabSize, fixture.vocab_size)
        XCTAssertEqual(tokenizer.encode("<|endoftext|>", parseSpecial: true), [Int32(fixture.eos_token_id!)])
        XCTAssertEqual(RealModels.check(tokenizer, fixture, label: "gpt2-tiny (tokenizer.json)"), fixture.cases.count)
    }

    func testFromGGUF() throws {
        let vocabulary = try TokenizerVocabulary(gguf: try GGUFFile(path: Self.folder.appendingPathComponent("gpt2-tiny.gguf").path))
        XCTAssertEqual(vocabulary.split, .gpt2)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        let expected = try JSONDecoder().decode(RealModels.Fixture.self,
                                                from: Data(contentsOf: Self.folder.appendingPathComponent("gpt2-tiny-gguf.json")))
        XCTAssertEqual(RealModels.check(tokenizer, expected, label: "gpt2-tiny (GGUF)"), expected.cases.count)
    }

    /// GPT-2's split where it differs from Qwen 2's: contractions in lower case only, digit runs
    /// kept whole, whitespace runs giving their last space to the word after them.
    func testSplitPieces() {
        func pieces(_ text: String) -> [String] {
            let scalars = Array(text.unicodeScalars)
            return GPT2Split.split(scalars).map { range in
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[range])
                return String(view)
            }
        }
        // Expected pieces from the tokenizers package's ByteLevel pre-tokenizer (use_regex).
        XCTAssertEqual(pieces("in 2024"), ["in", " 2024"])
        XCTAssertEqual(pieces("DON'T don't"), ["DON", "'", "T", " don", "'t"])
        XCTAssertEqual(pieces("a   b  "), ["a", "  ", " b", "  "])
        XCTAssertEqual(pieces("x\n\ny"), ["x", "\n", "\n", "y"])
    }
}
