import Foundation
import LanternCore
@testable import Tokenizers
import XCTest

/// Ids and text against transformers on the real models' tokenizers (fixtures written by
/// `tools/make_tokenizer_fixtures.py`). The vocabularies are not committed: they are read from
/// `$LANTERN_HOME/tokenizers/<model>/tokenizer.json` (default `~/.cache/lantern`), and the tests
/// skip without them unless `LANTERN_REQUIRE_MODELS=1`.
final class RealTokenizerTests: XCTestCase {
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

    static func vocabularyPath(_ model: String) -> String {
        let env = ProcessInfo.processInfo.environment
        let home = env["LANTERN_HOME"] ?? (NSHomeDirectory() + "/.cache/lantern")
        return home + "/tokenizers/\(model)/tokenizer.json"
    }

    func load(_ model: String) throws -> (TokenizerVocabulary, Fixture) {
        let fixtureData = try Data(contentsOf: Self.fixtureDirectory.appendingPathComponent("\(model).json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: fixtureData)
        let path = Self.vocabularyPath(model)
        guard FileManager.default.fileExists(atPath: path) else {
            let message = "\(path) is missing: run tools/make_tokenizer_fixtures.py to create it"
            if ProcessInfo.processInfo.environment["LANTERN_REQUIRE_MODELS"] == "1" {
                XCTFail(message)
                throw XCTSkip(message)
            }
            print("SKIP \(model): \(message)")
            throw XCTSkip(message)
        }
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let vocabulary = Self.loaded[model] { return (vocabulary, fixture) }
        let vocabulary = try TokenizerVocabulary(hubTokenizerJSON: path)
        Self.loaded[model] = vocabulary
        return (vocabulary, fixture)
    }

    /// Checks every fixture text; returns how many matched exactly.
    @discardableResult
    func check(_ tokenizer: Tokenizer, _ fixture: Fixture, label: String, decoding: Bool = true) -> Int {
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

    func testGemma3FromTokenizerJSON() throws {
        let (vocabulary, fixture) = try load("gemma3-270m")
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(tokenizer.kind, .sentencePiece)
        XCTAssertEqual(tokenizer.bos, fixture.bos_token_id)
        XCTAssertEqual(tokenizer.eos, fixture.eos_token_id)
        XCTAssertEqual(tokenizer.vocabSize, fixture.vocab_size)
        check(tokenizer, fixture, label: "gemma3-270m (tokenizer.json)")
    }

    /// The vocabulary as a GGUF holds it: no merges (rebuilt from token order), runs of spaces
    /// spelled with real spaces and marked user-defined.
    func testGemma3AsGGUFStoresIt() throws {
        var (vocabulary, fixture) = try load("gemma3-270m")
        vocabulary.merges = []
        vocabulary.derivedMergeOrder = .tokenOrder
        for (id, token) in vocabulary.tokens.enumerated() where token.count > 1 && token.allSatisfy({ $0 == "\u{2581}" }) {
            vocabulary.tokens[id] = String(repeating: " ", count: token.count)
            vocabulary.types[id] = .userDefined
        }
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        check(tokenizer, fixture, label: "gemma3-270m (GGUF-style vocabulary)")
    }

    func testSmolLM2FromTokenizerJSON() throws {
        let (vocabulary, fixture) = try load("smollm2-135m")
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        XCTAssertEqual(tokenizer.kind, .byteLevelBPE)
        XCTAssertEqual(tokenizer.bos, fixture.bos_token_id)
        XCTAssertEqual(tokenizer.eos, fixture.eos_token_id)
        XCTAssertEqual(tokenizer.vocabSize, fixture.vocab_size)
        XCTAssertFalse(tokenizer.vocabulary.addBOS)
        check(tokenizer, fixture, label: "smollm2-135m (tokenizer.json)")
    }

    /// Encoding speed on a corpus-like text (printed; a loose bound guards against a quadratic path).
    func testEncodingSpeed() throws {
        let paragraph = "The reliability of Wikipedia is very often questioned, yet studies found it comparable "
            + "to other encyclopedias. Numbers like 1,234,567 and code `let x = 42;` appear too.\n\n"
        let text = String(repeating: paragraph, count: 400)
        for model in ["gemma3-270m", "smollm2-135m"] {
            let (vocabulary, _) = try load(model)
            let tokenizer = try Tokenizer(vocabulary: vocabulary)
            let start = Date()
            let ids = tokenizer.encode(text)
            let seconds = Date().timeIntervalSince(start)
            print("\(model): \(text.utf8.count) bytes -> \(ids.count) tokens in \(String(format: "%.3f", seconds)) s")
            XCTAssertLessThan(seconds, 5)
            XCTAssertEqual(tokenizer.decode(ids, skipSpecial: true), text)
        }
    }
}
