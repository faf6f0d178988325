import Foundation
import LanternCore
import Formats
@testable import Tokenizers
import XCTest

/// The GGUF path: a vocabulary built from the `tokenizer.ggml.*` metadata of the real GGUFs (dumped by
/// `tools/make_tokenizer_fixtures.py` into the cache next to `tokenizer.json`, not committed), checked
/// against transformers' ids, plus an uncommitted 1000-text random stress set per model.
final class GGUFVocabularyTests: XCTestCase {
    /// What the lead's GGUF reader will do, key by key.
    func checkStress(_ tokenizer: Tokenizer, model: String, label: String) {
        guard let cases = (try? JSONReader.parse(try RealModels.cachedFile(model, "stress.json")))?.array else { return }
        var matched = 0
        for item in cases {
            guard let text = item["text"]?.string else { continue }
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



    func testStressFromTokenizerJSON() throws {
        for model in ["gemma3-270m", "smollm2-135m"] {
            let tokenizer = try Tokenizer(vocabulary: try RealModels.load(model).0)
            checkStress(tokenizer, model: model, label: "\(model) (tokenizer.json)")
        }
    }
}
