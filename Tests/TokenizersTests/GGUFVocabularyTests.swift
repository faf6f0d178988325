import Foundation
import LanternCore
import Formats
@testable import Tokenizers
import XCTest

/// The 1000-text random stress set per model (`tools/make_tokenizer_fixtures.py` writes it into
/// the cache, `$LANTERN_HOME/tokenizers/<model>/stress.json`, not committed): the tokenizer built
/// from `tokenizer.json` gives transformers' ids for every text. Each model skips on its own when
/// its export is missing.
final class GGUFVocabularyTests: XCTestCase {
    /// Every text of the model's stress set (cached, see `RealModels.cachedFile`): a missing set
    /// skips (fails under LANTERN_REQUIRE_TOKENIZER_EXPORTS), an unreadable one fails.
    func checkStress(_ tokenizer: Tokenizer, model: String, label: String) throws {
        let bytes = try RealModels.cachedFile(model, "stress.json")
        guard let cases = try JSONReader.parse(bytes).array, !cases.isEmpty else {
            XCTFail("\(label): stress.json is not a non-empty JSON array")
            return
        }
        var matched = 0
        for item in cases {
            guard let text = item["text"]?.string else { XCTFail("\(label) stress: an item without text: \(item)"); continue }
            let ids = item["ids"]?.array?.compactMap { $0.int.map(Int32.init) } ?? []
            let literal = item["ids_no_special"]?.array?.compactMap { $0.int.map(Int32.init) } ?? []
            let got = tokenizer.encode(text, parseSpecial: true), gotLiteral = tokenizer.encode(text)
            if got == ids && gotLiteral == literal {
                matched += 1
            } else {
                XCTFail("\(label) stress: \(text.debugDescription): \(got) / \(gotLiteral) != \(ids) / \(literal)")
            }
        }
        print("\(label): stress \(matched)/\(cases.count) random texts match transformers exactly")
    }

    func checkStress(_ model: String) throws {
        let tokenizer = try Tokenizer(vocabulary: try RealModels.load(model).0)
        try checkStress(tokenizer, model: model, label: "\(model) (tokenizer.json)")
    }

    func testStressGemma3FromTokenizerJSON() throws { try checkStress("gemma3-270m") }
    func testStressSmolLM2FromTokenizerJSON() throws { try checkStress("smollm2-135m") }
}
