import LanternCore

extension Tokenizer {
    /// The merge table: the vocabulary's merges by rank, or, for a SentencePiece vocabulary without
    /// any (a GGUF), every split of every token into two tokens, ordered as transformers orders them
    /// when it rebuilds merges from a GGUF (`generate_merges`): by the result's score (or position),
    /// then the longer left part, then the longer right part, then token order.
    static func buildMerges(_ vocabulary: TokenizerVocabulary, spellings: [String], idOf: [ExactString: Int32]) throws -> BPEMerges {
        var table = BPEMerges()
        if !vocabulary.merges.isEmpty {
            for (rank, merge) in vocabulary.merges.enumerated() {
                guard let (left, right) = splitMerge(merge, idOf: idOf) else {
                    throw LanternError.badFile(
                        path: vocabulary.source, field: "merges[\(rank)]",
                        problem: "\"\(merge)\" is not two tokens of the vocabulary")
                }
                // A merge whose result is not a token cannot fire (Hugging Face skips it as well).
                guard let result = idOf[ExactString(spellings[Int(left)] + spellings[Int(right)])] else { continue }
                table.add(left: left, right: right, result: result, rank: Int32(rank))
            }
            return table
        }
        guard vocabulary.kind == .sentencePiece else { return table }

        struct Derived {
            var left: Int32, right: Int32, result: Int32
            var leftLength: Int32, rightLength: Int32
        }
        var derived: [Derived] = []
        for (id, spelling) in spellings.enumerated() where idOf[ExactString(spelling)] == Int32(id) {
            let scalars = Array(spelling.unicodeScalars)
            guard scalars.count > 1 else { continue }
            // Longer left part first: that is the order within one result.
            for split in stride(from: scalars.count - 1, through: 1, by: -1) {
                var left = String.UnicodeScalarView(), right = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<split])
                right.append(contentsOf: scalars[split...])
                guard let l = idOf[ExactString(String(left))], let r = idOf[ExactString(String(right))] else { continue }
                derived.append(Derived(left: l, right: r, result: Int32(id),
                                       leftLength: Int32(split), rightLength: Int32(scalars.count - split)))
            }
        }
        if vocabulary.derivedMergeOrder == .scores {
            let scores = vocabulary.scores
            func score(_ id: Int32) -> Float { Int(id) < scores.count ? scores[Int(id)] : 0 }
            derived.sort { a, b in
                let sa = score(a.result), sb = score(b.result)
                if sa != sb { return sa > sb }
                if a.leftLength != b.leftLength { return a.leftLength > b.leftLength }
                if a.rightLength != b.rightLength { return a.rightLength > b.rightLength }
                return a.result < b.result
            }
        }
        for (rank, merge) in derived.enumerated() {
            table.add(left: merge.left, right: merge.right, result: merge.result, rank: Int32(rank))
        }
        return table
    }

    /// `"left right"` as two token ids. Tokens may themselves contain spaces, so every space is
    /// tried, first one first.
    private static func splitMerge(_ merge: String, idOf: [ExactString: Int32]) -> (Int32, Int32)? {
        let utf8 = Array(merge.utf8)
        for space in utf8.indices where utf8[space] == 0x20 {
            let left = ExactString(String(decoding: utf8[..<space], as: UTF8.self))
            let right = ExactString(String(decoding: utf8[(space + 1)...], as: UTF8.self))
            if let l = idOf[left], let r = idOf[right] { return (l, r) }
        }
        return nil
    }
}

extension TokenizerVocabulary {
    /// Throws a one-line `badFile` error when the vocabulary cannot describe a tokenizer.
    public func validate() throws {
        func bad(_ field: String, _ problem: String) -> LanternError {
            .badFile(path: source, field: field, problem: problem)
        }
        guard !tokens.isEmpty else { throw bad("tokens", "the tokenizer has no tokens") }
        if !scores.isEmpty, scores.count != tokens.count {
            throw bad("scores", "\(scores.count) scores for \(tokens.count) tokens")
        }
        if !types.isEmpty, types.count != tokens.count {
            throw bad("token_type", "\(types.count) token types for \(tokens.count) tokens")
        }
        for (field, id) in [("bos_token_id", bosID), ("eos_token_id", eosID), ("unknown_token_id", unknownID),
                            ("padding_token_id", paddingID)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw bad(field, "token id \(id) is outside the vocabulary of \(tokens.count)")
            }
        }
        if addBOS, bosID == nil { throw bad("add_bos_token", "BOS is to be added but there is no BOS token") }
    }
}
