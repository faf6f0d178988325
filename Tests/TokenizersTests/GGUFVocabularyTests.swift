import Foundation
import LanternCore
@testable import Tokenizers
import XCTest

/// The GGUF path: a vocabulary built from the `tokenizer.ggml.*` metadata of the real GGUFs (dumped by
/// `tools/make_tokenizer_fixtures.py` into the cache next to `tokenizer.json`, not committed), checked
/// against transformers' ids, plus an uncommitted 1000-text random stress set per model.
final class GGUFVocabularyTests: XCTestCase {
    /// What the lead's GGUF reader will do, key by key.
    func vocabulary(_ model: String) throws -> TokenizerVocabulary {
        let meta = try JSONReader.parse(try RealModels.cachedFile(model, "gguf_tokenizer.json"))
        func key(_ name: String) -> JSONValue? { meta["tokenizer.ggml." + name] }
        return try TokenizerVocabulary(
            ggufModel: key("model")?.string ?? "", architecture: meta["general.architecture"]?.string, pre: key("pre")?.string,
            tokens: key("tokens")?.array?.compactMap(\.string) ?? [],
            scores: key("scores")?.array?.compactMap { if case let .number(n) = $0 { Float(n) } else { nil } },
            tokenTypes: key("token_type")?.array?.compactMap { $0.int.map(Int32.init) },
            merges: key("merges")?.array?.compactMap(\.string),
            bosID: key("bos_token_id")?.int, eosID: key("eos_token_id")?.int,
            unknownID: key("unknown_token_id")?.int, paddingID: key("padding_token_id")?.int,
            addBOS: key("add_bos_token")?.bool, addEOS: key("add_eos_token")?.bool,
            addSpacePrefix: key("add_space_prefix")?.bool, source: model + ".gguf")
    }

    func checkGGUF(_ model: String) throws {
        let tokenizer = try Tokenizer(vocabulary: try vocabulary(model))
        let fixture = try RealModels.load(model).1
        RealModels.check(tokenizer, fixture, label: "\(model) (GGUF metadata)")
        checkStress(tokenizer, model: model, label: "\(model) (GGUF metadata)")
    }

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

    func testGemma3FromGGUFMetadata() throws { try checkGGUF("gemma3-270m") }

    func testSmolLM2FromGGUFMetadata() throws { try checkGGUF("smollm2-135m") }

    func testStressFromTokenizerJSON() throws {
        for model in ["gemma3-270m", "smollm2-135m"] {
            let tokenizer = try Tokenizer(vocabulary: try RealModels.load(model).0)
            checkStress(tokenizer, model: model, label: "\(model) (tokenizer.json)")
        }
    }
}
