import Foundation
import Lantern
@testable import Tokenizers
import XCTest
import TestSupport

/// Gemma's merges (derived in token order) are looked up lazily; the tabulated build is the
/// reference: the same merge (result and rank order) for every pair of tokens, the same ids.
final class DerivedMergeTests: XCTestCase {
    /// Every pair of a small vocabulary with duplicates, multi-byte characters and several splits
    /// of one token: lazy and tabulated agree on which pairs merge, into what, and in what order.
    func testLazyLookupMatchesTheTableOnEveryPair() throws {
        let tokens = ["<unk>", "<s>", "a", "b", "ab", "abc", "c", "bc", "é", "éa", "aé", "ab", "\u{2581}", "\u{2581}a",
                      "\u{2581}ab", "ca", "abca", "bca", "e\u{301}", "e", "\u{301}"]
        let vocabulary = TokenizerVocabulary(kind: .sentencePiece, tokens: tokens, derivedMergeOrder: .tokenOrder,
                                             unknownID: 0, addSpacePrefix: true)
        try compare(vocabulary, pairs: (0..<tokens.count).flatMap { l in (0..<tokens.count).map { (Int32(l), Int32($0)) } })
    }

    /// The real Gemma 3 vocabulary from the cached GGUF: every tabulated merge and as many pairs
    /// that are not merges; then ids of a few texts through both.
    func testLazyLookupMatchesTheTableOnGemma3() throws {
        let path = try requireModel("gemma3-270m")
        let vocabulary = try TokenizerVocabulary(gguf: try GGUFFile(path: path))
        XCTAssertEqual(vocabulary.derivedMergeOrder, .tokenOrder)
        let seed: UInt64 = 262_144
        var generator = SeededGenerator(seed: seed)
        let random = (0..<200_000).map { _ in (Int32.random(in: 0..<262_144, using: &generator), Int32.random(in: 0..<4096, using: &generator)) }
        try compare(vocabulary, pairs: random, includeTable: true, context: "random pairs of seed \(seed)")
    }

    /// `context` goes into every failure message (where the pairs came from).
    func compare(_ vocabulary: TokenizerVocabulary, pairs: [(Int32, Int32)], includeTable: Bool = false,
                 context: String = "every pair") throws {
        let lazy = try Tokenizer(vocabulary: vocabulary)
        let table = try Tokenizer.buildMerges(vocabulary, spellings: lazy.spellings, idOf: lazy.idOf, tabulateDerived: true)
        XCTAssertEqual(lazy.merges.count, 0, "the lazy tokenizer keeps no table")
        var all = pairs
        if includeTable { all += table.pairs }
        var merges: [(rankLazy: Int64, rankTable: Int64)] = []
        for (l, r) in all {
            let a = lazy.merges.lookup(l, r), b = table.lookup(l, r)
            XCTAssertEqual(a?.result, b?.result, "pair \(l) \(r) (\(context))")
            if let a, let b { merges.append((a.rank, b.rank)) }
        }
        XCTAssertGreaterThan(merges.count, 5, context)
        // Ranks order the same way (they are different numbers: ids and lengths, or positions).
        let byLazy = merges.sorted { $0.rankLazy < $1.rankLazy }.map(\.rankTable)
        XCTAssertEqual(byLazy, byLazy.sorted(), "rank order (\(context))")
        let tabled = try Tokenizer(vocabulary: vocabulary, tabulateDerivedMerges: true)
        for text in ["abcab éa e\u{301}a", "The reliability of Wikipedia is very", "  <b>Hello</b>\n\n\tworld — ça va? 東京"] {
            XCTAssertEqual(lazy.encode(text), tabled.encode(text), text)
        }
    }
}
