import LanternCore

extension Tokenizer {
    /// The merge table: the vocabulary's merges by rank, or, for a SentencePiece vocabulary without
    /// any (a GGUF), every split of every token into two tokens, ordered as transformers orders them
    /// when it rebuilds merges from a GGUF (`generate_merges`): by the result's score (or position),
    /// then the longer left part, then the longer right part, then token order. In token order
    /// the table is looked up lazily unless `tabulateDerived` (the reference the tests compare with).
    static func buildMerges(_ vocabulary: TokenizerVocabulary, spellings: [String], idOf: TokenIndex,
                            tabulateDerived: Bool = false) throws -> BPEMerges {
        var table = BPEMerges()
        var scratch: [UInt8] = []
        if !vocabulary.merges.isEmpty {
            for (rank, merge) in vocabulary.merges.enumerated() {
                var merge = merge
                let found: (Int32, Int32, Int32?)? = merge.withUTF8 { text in
                    // Tokens may themselves contain spaces: try every space, first one first.
                    for space in text.indices where text[space] == 0x20 {
                        let left = UnsafeBufferPointer(rebasing: text[..<space])
                        let right = UnsafeBufferPointer(rebasing: text[(space + 1)...])
                        guard let l = idOf.id(left), let r = idOf.id(right) else { continue }
                        scratch.removeAll(keepingCapacity: true)
                        scratch.append(contentsOf: left)
                        scratch.append(contentsOf: right)
                        return (l, r, scratch.withUnsafeBufferPointer { idOf.id($0) })
                    }
                    return nil
                }
                guard let (left, right, result) = found else {
                    throw LanternError.badFile(
                        path: vocabulary.source, field: "merges[\(rank)]",
                        problem: "\"\(merge)\" is not two tokens of the vocabulary")
                }
                // A merge whose result is not a token cannot fire (Hugging Face skips it as well).
                guard let result else { continue }
                table.add(left: left, right: right, result: result, rank: Int64(rank))
            }
            return table
        }
        guard vocabulary.kind == .sentencePiece else { return table }
        if vocabulary.derivedMergeOrder == .tokenOrder && !tabulateDerived { return BPEMerges(derivedInTokenOrder: idOf) }

        struct Derived {
            var left: Int32, right: Int32, result: Int32
            var leftLength: Int32, rightLength: Int32
        }
        var derived: [Derived] = []
        derived.reserveCapacity(spellings.count * 2)
        for (id, spelling) in spellings.enumerated() where idOf.id(spelling) == Int32(id) {
            var spelling = spelling
            spelling.withUTF8 { bytes in
                let scalars = Int32(bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) })
                guard scalars > 1 else { return }
                // Longer left part first: that is the order within one result.
                var leftLength = scalars
                for split in stride(from: bytes.count - 1, through: 1, by: -1) where bytes[split] & 0xC0 != 0x80 {
                    leftLength -= 1
                    guard let l = idOf.id(UnsafeBufferPointer(rebasing: bytes[..<split])),
                          let r = idOf.id(UnsafeBufferPointer(rebasing: bytes[split...])) else { continue }
                    derived.append(Derived(left: l, right: r, result: Int32(id),
                                           leftLength: leftLength, rightLength: scalars - leftLength))
                }
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
            table.add(left: merge.left, right: merge.right, result: merge.result, rank: Int64(rank))
        }
        return table
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
