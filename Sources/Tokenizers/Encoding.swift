extension Tokenizer {
    /// Token ids for `text`. `addBOS` nil: as the vocabulary says. `parseSpecial`: find control
    /// tokens written in the text (as transformers does by default); otherwise they are plain text.
    public func encode(_ text: String, addBOS: Bool? = nil, parseSpecial: Bool = false) -> [Int32] {
        var ids: [Int32] = []
        if addBOS ?? vocabulary.addBOS, let bos = vocabulary.bosID { ids.append(bos) }
        let bytes = Array(text.utf8)
        let segments: [AddedTokenMatcher.Segment] = matcher.isEmpty
            ? (bytes.isEmpty ? [] : [.text(0..<bytes.count)])
            : matcher.segments(bytes, includeSpecial: parseSpecial)
        for segment in segments {
            switch segment {
            case let .token(id): ids.append(id)
            case let .text(range):
                let piece = String(decoding: bytes[range], as: UTF8.self)
                var prefix = vocabulary.addSpacePrefix && (range.lowerBound == 0 || vocabulary.metaspacePrefix == .always)
                if vocabulary.metaspacePrefix != nil, [" ", "\u{2581}"].contains(piece.unicodeScalars.first) { prefix = false }
                switch vocabulary.kind {
                case .sentencePiece: encodeSentencePiece(piece, spacePrefix: prefix, into: &ids)
                case .byteLevelBPE: encodeByteLevel(piece, into: &ids)
                }
            }
        }
        if vocabulary.addEOS, let eos = vocabulary.eosID { ids.append(eos) }
        return ids
    }

    /// SentencePiece-style BPE over one text segment. The segment is one BPE word, but it is cut
    /// into chunks before each `▁` that no token can join to the character in front of it; merges
    /// never cross such a cut, so chunks are merged (and cached) independently with the same result.
    private func encodeSentencePiece(_ text: String, spacePrefix: Bool, into ids: inout [Int32]) {
        var symbols: [Int32] = []
        symbols.reserveCapacity(text.utf8.count)
        var cuts: [Int] = [0]
        var lastWasUnknown = false
        var last: Unicode.Scalar = "\u{2581}"
        func append(_ scalar: Unicode.Scalar) {
            let scalar = scalar == " " ? "\u{2581}" : scalar
            if scalar == "\u{2581}", last != "\u{2581}", !spaceJoiners.contains(last.value), symbols.count > cuts.last! {
                cuts.append(symbols.count)
            }
            if let id = scalarIDs[scalar.value] {
                symbols.append(id)
                lastWasUnknown = false
                last = scalar
                return
            }
            let utf8 = Array(String(scalar).utf8)
            if utf8.allSatisfy({ byteIDs[Int($0)] >= 0 }) {
                for byte in utf8 { symbols.append(byteIDs[Int(byte)]) }
                lastWasUnknown = false
                last = ">"  // the end of `<0xNN>`
            } else if let unknown = vocabulary.unknownID, !lastWasUnknown {
                symbols.append(unknown)
                lastWasUnknown = true
                last = spellings[Int(unknown)].unicodeScalars.last ?? ">"
            }
        }
        if spacePrefix { append("\u{2581}") }
        for scalar in text.unicodeScalars { append(scalar) }
        cuts.append(symbols.count)
        for k in 0..<(cuts.count - 1) where cuts[k] < cuts[k + 1] {
            let chunk = Array(symbols[cuts[k]..<cuts[k + 1]])
            if chunk.count <= 64, let cached = cachedChunk(chunk) {
                ids.append(contentsOf: cached)
                continue
            }
            var merged = chunk
            merges.apply(&merged)
            ids.append(contentsOf: merged)
            if chunk.count <= 64 { storeChunk(chunk, merged) }
        }
    }

    private func cachedChunk(_ chunk: [Int32]) -> [Int32]? {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        return chunkCache[chunk]
    }

    private func storeChunk(_ chunk: [Int32], _ merged: [Int32]) {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if chunkCache.count > 100_000 { chunkCache.removeAll(keepingCapacity: true) }
        chunkCache[chunk] = merged
    }

    private func encodeByteLevel(_ text: String, into ids: inout [Int32]) {
        // NFC on the text between added tokens, as tokenizers normalises what they leave.
        let scalars = Array((vocabulary.normalizesNFC ? text.precomposedStringWithCanonicalMapping : text).unicodeScalars)
        let words = switch vocabulary.split {
        case .gpt2: GPT2Split.split(scalars)
        case .qwen2: QwenSplit.split(scalars, digitRun: 1)
        case .llama3: QwenSplit.split(scalars, digitRun: 3)
        }
        for range in words {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[range])
            let word = String(view)
            if let cached = cachedWord(word) {
                ids.append(contentsOf: cached)
                continue
            }
            var symbols = word.utf8.compactMap { byteIDs[Int($0)] >= 0 ? byteIDs[Int($0)] : nil }
            merges.apply(&symbols)
            ids.append(contentsOf: symbols)
            storeWord(word, symbols)
        }
    }

    private func cachedWord(_ word: String) -> [Int32]? {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        return wordCache[ExactString(word)]
    }

    private func storeWord(_ word: String, _ symbols: [Int32]) {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if wordCache.count > 100_000 { wordCache.removeAll(keepingCapacity: true) }
        wordCache[ExactString(word)] = symbols
    }
}
