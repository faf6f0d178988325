import Foundation
import Lantern
@testable import Tokenizers
import XCTest
import TestSupport

/// The tokenizers as Lantern builds them for real: from the cached GGUF's metadata, read by the
/// GGUF reader. Checked against transformers' ids on the committed fixture texts. Skipped with a
/// message when the model is not cached, failed when LANTERN_REQUIRE_MODELS is set (CI).
final class GGUFFileTokenizerTests: XCTestCase {
    func tokenizer(_ model: String) throws -> Tokenizer {
        let path = try requireModel(model)
        return try Tokenizer(vocabulary: TokenizerVocabulary(gguf: try GGUFFile(path: path)))
    }

    func check(model: String, fixture: String) throws {
        let tokenizer = try tokenizer(model)
        let data = try Data(contentsOf: RealModels.fixtureDirectory.appendingPathComponent("\(fixture).json"))
        let expected = try JSONDecoder().decode(RealModels.Fixture.self, from: data)
        let matched = RealModels.check(tokenizer, expected, label: "\(model) (GGUF file)")
        XCTAssertEqual(matched, expected.cases.count)
        XCTAssertEqual(tokenizer.vocabSize, expected.vocab_size)
    }

    func testGemma3FromGGUFFile() throws { try check(model: "gemma3-270m", fixture: "gemma3-270m") }
    func testSmolLM2FromGGUFFile() throws { try check(model: "smollm2", fixture: "smollm2-135m") }
}
