import Foundation
import LanternCore
@testable import Tokenizers
import XCTest

/// Ids and text against transformers on the real models' tokenizers (fixtures written by
/// `tools/make_tokenizer_fixtures.py`). The vocabularies are not committed: they are read from
/// `$LANTERN_HOME/tokenizers/<model>/tokenizer.json` (default `~/.cache/lantern`; SmolLM2's is
/// committed), and the tests skip without them unless `LANTERN_REQUIRE_TOKENIZER_EXPORTS=1`.
final class RealTokenizerTests: XCTestCase {
    func testGemma3FromTokenizerJSON() throws {
        let (vocabulary, fixture) = try RealModels.load("gemma3-270m")
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(tokenizer.kind, .sentencePiece)
        XCTAssertEqual(tokenizer.bos, fixture.bos_token_id)
        XCTAssertEqual(tokenizer.eos, fixture.eos_token_id)
        XCTAssertEqual(tokenizer.vocabSize, fixture.vocab_size)
        RealModels.check(tokenizer, fixture, label: "gemma3-270m (tokenizer.json)")
    }

    /// The vocabulary as a GGUF holds it: no merges (rebuilt from token order), runs of spaces
    /// spelled with real spaces and marked user-defined.
    func testGemma3AsGGUFStoresIt() throws {
        var (vocabulary, fixture) = try RealModels.load("gemma3-270m")
        vocabulary.merges = []
        vocabulary.derivedMergeOrder = .tokenOrder
        for (id, token) in vocabulary.tokens.enumerated() where token.count > 1 && token.allSatisfy({ $0 == "\u{2581}" }) {
            vocabulary.tokens[id] = String(repeating: " ", count: token.count)
            vocabulary.types[id] = .userDefined
        }
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        RealModels.check(tokenizer, fixture, label: "gemma3-270m (GGUF-style vocabulary)")
    }

    func testSmolLM2FromTokenizerJSON() throws {
        let (vocabulary, fixture) = try RealModels.load("smollm2-135m")
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(tokenizer.kind, .byteLevelBPE)
        XCTAssertEqual(tokenizer.bos, fixture.bos_token_id)
        XCTAssertEqual(tokenizer.eos, fixture.eos_token_id)
        XCTAssertEqual(tokenizer.vocabSize, fixture.vocab_size)
        XCTAssertFalse(tokenizer.vocabulary.addBOS)
        RealModels.check(tokenizer, fixture, label: "smollm2-135m (tokenizer.json)")
    }
}
