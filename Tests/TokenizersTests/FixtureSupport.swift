import Foundation
import LanternCore
@testable import Tokenizers
import XCTest
import TestSupport

/// Shared by the real-model tests: fixtures, the cached vocabularies, and the comparison loop.
enum RealModels {
    struct Case: Decodable {
        var text: String
        var ids: [Int32]
        var ids_no_special: [Int32]
        var decoded: String
        var decoded_skip_special: String
    }

    struct Fixture: Decodable {
        var model: String
        var bos_token_id: Int32?
        var eos_token_id: Int32?
        var vocab_size: Int
        var cases: [Case]
    }

    static let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizers")

    /// Loaded vocabularies, shared by the tests of one run (the Gemma one takes seconds to parse).
    nonisolated(unsafe) static var loaded: [String: TokenizerVocabulary] = [:]
    static let lock = NSLock()

    /// Where tools/make_tokenizer_fixtures.py exports a model's tokenizer files (not committed).
    static func exportDirectory(_ model: String) -> String {
        let env = ProcessInfo.processInfo.environment
        let home = env["LANTERN_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache/lantern")
        return home + "/tokenizers/\(model)"
    }

    static func vocabularyPath(_ model: String) -> String {
        // SmolLM2's tokenizer.json (3.5 MB, as transformers saves it) is committed; Gemma's (33 MB)
        // is exported into the cache by tools/make_tokenizer_fixtures.py.
        let committed = fixtureDirectory.appendingPathComponent("\(model)/tokenizer.json").path
        if FileManager.default.fileExists(atPath: committed) { return committed }
        return exportDirectory(model) + "/tokenizer.json"
    }

    static func load(_ model: String) throws -> (TokenizerVocabulary, Fixture) {
        let fixtureData = try Data(contentsOf: RealModels.fixtureDirectory.appendingPathComponent("\(model).json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: fixtureData)
        let path = RealModels.vocabularyPath(model)
        guard FileManager.default.fileExists(atPath: path) else { throw missing(model, path) }
        RealModels.lock.lock()
        defer { RealModels.lock.unlock() }
        if let vocabulary = RealModels.loaded[model] { return (vocabulary, fixture) }
        let vocabulary = try TokenizerVocabulary(hubTokenizerJSON: path)
        RealModels.loaded[model] = vocabulary
        return (vocabulary, fixture)
    }

    /// Checks every fixture text; returns how many matched exactly.
    @discardableResult
    static func check(_ tokenizer: Tokenizer, _ fixture: Fixture, label: String, decoding: Bool = true) -> Int {
        var matched = 0
        for c in fixture.cases {
            var ok = true
            let ids = tokenizer.encode(c.text, parseSpecial: true)
            if ids != c.ids {
                ok = false
                XCTFail("\(label): \(c.text.debugDescription): ids \(ids) != transformers \(c.ids)")
            }
            let literal = tokenizer.encode(c.text)
            if literal != c.ids_no_special {
                ok = false
                XCTFail("\(label): \(c.text.debugDescription): literal ids \(literal) != transformers \(c.ids_no_special)")
            }
            if decoding {
                let text = tokenizer.decode(c.ids)
                if !text.utf8.elementsEqual(c.decoded.utf8) {
                    ok = false
                    XCTFail("\(label): decode \(c.ids): \(text.debugDescription) != \(c.decoded.debugDescription)")
                }
                let skipped = tokenizer.decode(c.ids, skipSpecial: true)
                if !skipped.utf8.elementsEqual(c.decoded_skip_special.utf8) {
                    ok = false
                    XCTFail("\(label): decode skipping special \(c.ids): \(skipped.debugDescription) != \(c.decoded_skip_special.debugDescription)")
                }
                var stream = StreamingDecoder(tokenizer: tokenizer)
                var streamed = c.ids.map { stream.push($0) }.joined()
                streamed += stream.finish()
                if !streamed.utf8.elementsEqual(c.decoded.utf8) {
                    ok = false
                    XCTFail("\(label): streaming \(c.ids): \(streamed.debugDescription) != \(c.decoded.debugDescription)")
                }
            }
            if ok { matched += 1 }
        }
        print("\(label): \(matched)/\(fixture.cases.count) texts match transformers exactly")
        return matched
    }

    /// A file tools/make_tokenizer_fixtures.py exported for `model` (in the cache, also for a model
    /// whose tokenizer.json is committed); skips (or fails, when exports are required) if absent.
    static func cachedFile(_ model: String, _ name: String) throws -> [UInt8] {
        let path = exportDirectory(model) + "/" + name
        guard let data = FileManager.default.contents(atPath: path) else { throw missing(model, path) }
        return [UInt8](data)
    }

    /// These exports need transformers (a developer's machine, not CI): CI checks the same
    /// fixtures with the vocabulary read from the cached GGUF (GGUFFileTokenizerTests). Skipped
    /// without them; failed when LANTERN_REQUIRE_TOKENIZER_EXPORTS is set.
    static func missing(_ model: String, _ path: String) -> any Error {
        missingResource("\(model): \(path) is missing", fix: "run tools/make_tokenizer_fixtures.py to create it",
                        requiredBy: "LANTERN_REQUIRE_TOKENIZER_EXPORTS")
    }
}
