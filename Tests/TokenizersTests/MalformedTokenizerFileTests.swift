import Foundation
import Lantern
import LanternCore
@testable import Tokenizers
import XCTest

/// The first hardening pass's crash classes in tokenizer files: ids that do not fit an Int32, and tokenizers
/// that do not match the model's vocabulary.
final class MalformedTokenizerFileTests: XCTestCase {
    func expectError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Any) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertTrue(error is LanternError, "\(error)", file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), file: file, line: line)
            for f in fragments { XCTAssertTrue("\(error)".contains(f), "'\(error)' lacks '\(f)'", file: file, line: line) }
        }
    }

    func tokenizerJSON(specialIDs: String = "[2]", extra: String = "") -> [UInt8] {
        Array("""
        {"model": {"type": "BPE", "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "a": 3}, "merges": []},
         "added_tokens": [\(extra)],
         "post_processor": {"type": "TemplateProcessing",
           "single": [{"SpecialToken": {"id": "<bos>"}}, {"Sequence": {"id": "A"}}],
           "special_tokens": {"<bos>": {"ids": \(specialIDs)}}}}
        """.utf8)
    }

    func testTemplateIDsPast2To31AreRefused() {
        XCTAssertNoThrow(try TokenizerVocabulary(hubTokenizerJSON: tokenizerJSON(), config: nil, source: "x/tokenizer.json"))
        expectError(["x/tokenizer.json", "post_processor.special_tokens.<bos>.ids", "2147483648 is not a token id"]) {
            try TokenizerVocabulary(hubTokenizerJSON: self.tokenizerJSON(specialIDs: "[2147483648]"), config: nil, source: "x/tokenizer.json")
        }
    }

    func testTokenizerFarLargerThanTheModelIsRefused() {
        let extra = #"{"id": 5000000, "content": "<x>", "special": true}"#
        expectError(["x/tokenizer.json", "model.vocab", "token id 5000000 is past the model's vocabulary of 4"]) {
            try TokenizerVocabulary(hubTokenizerJSON: self.tokenizerJSON(extra: extra), config: nil, source: "x/tokenizer.json", vocabularyLimit: 4)
        }
    }

    func testGGUFIDsAndTypesThatDoNotFitAreRefused() {
        func vocabulary(bos: Int? = 2, types: [Int32]? = nil) throws -> TokenizerVocabulary {
            try TokenizerVocabulary(ggufModel: "llama", architecture: "gemma3", tokens: ["<pad>", "<eos>", "<bos>", "a"], scores: nil,
                                    tokenTypes: types, merges: nil, bosID: bos, eosID: 1, unknownID: nil, paddingID: nil,
                                    addBOS: true, addEOS: nil, addSpacePrefix: nil, source: "m.gguf")
        }
        XCTAssertNoThrow(try vocabulary())
        expectError(["m.gguf", "tokenizer.ggml.bos_token_id", "token id 2147483648 is outside the vocabulary of 4"]) { try vocabulary(bos: 1 << 31) }
        expectError(["m.gguf", "tokenizer.ggml.token_type", "unknown type 2147483647"]) {
            try vocabulary(types: [3, 3, 3, Int32(clamping: (1 << 32) + 1)])
        }
    }

    /// The tiny Gemma 3 GGUF with its embedding one row shorter than its token list.
    func testGGUFTokenListMustMatchTheEmbedding() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/gguf/tiny-gemma3.gguf")
        var bytes = [UInt8](try Data(contentsOf: fixture))
        let name = Array("token_embd.weight".utf8)
        let needle = withUnsafeBytes(of: UInt64(name.count).littleEndian, Array.init) + name
        let at = try XCTUnwrap((0...(bytes.count - needle.count)).last { bytes[$0..<($0 + needle.count)].elementsEqual(needle) })
        let ne1 = at + needle.count + 4 + 8  // after n_dims and ne[0]
        let rows = bytes[ne1..<(ne1 + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        withUnsafeBytes(of: (rows - 1).littleEndian) { for (i, b) in $0.enumerated() { bytes[ne1 + i] = b } }
        let path = NSTemporaryDirectory() + "lantern-short-embedding-\(getpid()).gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        expectError([path, "tokenizer.ggml.tokens", "\(rows) tokens, but token_embd.weight has \(rows - 1) rows"]) {
            try LanternModel.load(gguf: path, backend: CPUBackend())
        }
    }
}

/// JSON escapes that are not JSON (`\x`, `\'`) and UTF-16 surrogates that are not pairs: refused
/// with the offset, not repaired into a token that two different files would share.
final class TokenizerEscapeTests: XCTestCase {
    func vocabulary(_ token: String) throws -> TokenizerVocabulary {
        try TokenizerVocabulary(hubTokenizerJSON: Array(#"{"model": {"type": "BPE", "vocab": {"<pad>": 0, "\#(token)": 1}, "merges": []}}"#.utf8),
                                config: nil, source: "x/tokenizer.json")
    }

    func testInvalidEscapesAndLoneSurrogatesAreRefused() throws {
        XCTAssertNoThrow(try vocabulary(#"a\u00e9\ud83d\ude00\n\/"#))
        XCTAssertEqual(try JSONReader.parse(Array(#""\ud83d\ude00""#.utf8)).string, "😀")
        for (token, expected) in [(#"a\x41"#, #"\x is not a JSON escape"#), (#"a\'"#, #"\' is not a JSON escape"#),
                                  (#"\ud83d"#, "a lone high surrogate"), (#"\ude00x"#, "a lone low surrogate"),
                                  (#"\ud83d\u0041"#, "not a low one"), (#"\u+041"#, #"bad \u escape"#)] {
            XCTAssertThrowsError(try vocabulary(token), token) { error in
                XCTAssertTrue(error is LanternError, "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
                for f in ["x/tokenizer.json", expected] { XCTAssertTrue("\(error)".contains(f), "\(token): '\(error)' lacks '\(f)'") }
            }
        }
    }
}
