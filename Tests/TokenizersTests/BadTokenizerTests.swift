import Foundation
import LanternCore
@testable import Tokenizers
import XCTest

/// Bad tokenizer files: each a one-line `badFile` error naming the file and the field.
final class BadTokenizerTests: XCTestCase {
    func assertBadFile(_ body: @autoclosure () throws -> Any, field: String, contains text: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case let .badFile(path, badField, problem) = error as? LanternError else {
                return XCTFail("not a badFile error: \(error)", file: file, line: line)
            }
            XCTAssertEqual(badField, field, file: file, line: line)
            XCTAssertTrue(problem.contains(text), "\(problem)", file: file, line: line)
            XCTAssertTrue(path.hasSuffix("tokenizer.json") || path.hasSuffix(".gguf") || path == "<memory>", path, file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), file: file, line: line)
        }
    }

    func json(_ text: String) throws -> TokenizerVocabulary {
        try TokenizerVocabulary(hubTokenizerJSON: Array(text.utf8), config: nil, source: "x/tokenizer.json")
    }

    func testNoTokens() {
        assertBadFile(try json(#"{"model": {"type": "BPE", "vocab": {}, "merges": []}}"#), field: "model.vocab", contains: "no tokens")
        assertBadFile(try Tokenizer(vocabulary: TokenizerVocabulary(kind: .sentencePiece, tokens: [])), field: "tokens", contains: "no tokens")
        assertBadFile(try TokenizerVocabulary(
            ggufModel: "llama", architecture: "gemma3", tokens: [], scores: nil, tokenTypes: nil, merges: nil, bosID: nil,
            eosID: nil, unknownID: nil, paddingID: nil, addBOS: false, addEOS: nil, addSpacePrefix: nil, source: "m.gguf"),
            field: "tokens", contains: "no tokens")
    }

    func testMalformedJSON() {
        assertBadFile(try json(#"{"model": {"type": "BPE", "vocab": {"a": 0"#), field: "file", contains: "not JSON")
        assertBadFile(try json("[1, 2]"), field: "file", contains: "not a JSON object")
        assertBadFile(try json(#"{"version": "1.0"}"#), field: "model", contains: "missing")
        assertBadFile(try json(#"{"model": {"type": "Unigram", "vocab": []}}"#), field: "model.type", contains: "Unigram")
        assertBadFile(try json(#"{"model": {"type": "BPE", "vocab": {"a": "zero"}}}"#), field: "model.vocab", contains: "no valid id")
        assertBadFile(try json(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}}"#), field: "model.merges[0]", contains: "neither")
    }

    func testMergeOfUnknownTokens() throws {
        let vocabulary = try json(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}}"#)
        assertBadFile(try Tokenizer(vocabulary: vocabulary), field: "merges[0]", contains: "not two tokens")
    }

    func testInconsistentVocabulary() {
        var vocabulary = TokenizerVocabulary(kind: .sentencePiece, tokens: ["a", "b"], bosID: 5, addBOS: true)
        assertBadFile(try Tokenizer(vocabulary: vocabulary), field: "bos_token_id", contains: "outside")
        vocabulary.bosID = nil
        assertBadFile(try Tokenizer(vocabulary: vocabulary), field: "add_bos_token", contains: "no BOS")
        vocabulary.addBOS = false
        vocabulary.scores = [1]
        assertBadFile(try Tokenizer(vocabulary: vocabulary), field: "scores", contains: "1 scores for 2 tokens")
        assertBadFile(try TokenizerVocabulary(
            ggufModel: "bert", architecture: nil, tokens: ["a"], scores: nil, tokenTypes: nil, merges: nil, bosID: nil,
            eosID: nil, unknownID: nil, paddingID: nil, addBOS: nil, addEOS: nil, addSpacePrefix: nil, source: "m.gguf"),
            field: "tokenizer.ggml.model", contains: "bert")
        assertBadFile(try TokenizerVocabulary(
            ggufModel: "gpt2", architecture: nil, tokens: ["a"], scores: nil, tokenTypes: [9], merges: nil, bosID: nil,
            eosID: nil, unknownID: nil, paddingID: nil, addBOS: nil, addEOS: nil, addSpacePrefix: nil, source: "m.gguf"),
            field: "tokenizer.ggml.token_type", contains: "unknown type 9")
    }

    func testOtherPreTokenizerIsRefused() {
        XCTAssertThrowsError(try TokenizerVocabulary(
            ggufModel: "gpt2", architecture: "llama", pre: "tekken", tokens: ["a"], scores: nil, tokenTypes: nil,
            merges: nil, bosID: nil, eosID: nil, unknownID: nil, paddingID: nil, addBOS: nil, addEOS: nil,
            addSpacePrefix: nil, source: "m.gguf")) { error in
            XCTAssertEqual("\(error)", "unsupported: m.gguf: byte-level pre-tokenizer \"tekken\" (the GPT-2, Qwen 2 and cl100k splits are implemented)")
        }
    }

    func testMissingFile() {
        assertBadFile(try TokenizerVocabulary(hubTokenizerJSON: "/nonexistent/tokenizer.json"), field: "file", contains: "cannot read")
    }

    func testCanonicallyEquivalentTokensStayDistinct() throws {
        // é as one code point and as e + combining acute; `;` and U+037E.
        let vocabulary = try json(#"{"model": {"type": "BPE", "vocab": {"\u00e9": 0, "e\u0301": 1, ";": 2, "\u037e": 3, "e": 4, "\u0301": 5}, "merges": ["e \u0301"]}, "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}}"#)
        XCTAssertEqual(vocabulary.tokens.count, 6)
        let t = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(t.encode("\u{e9}e\u{301};\u{37e}"), [0, 1, 2, 3])
    }
}
