/// Qwen 2's pre-tokenizer (Qwen 2, 2.5 and 3 share it; transformers' `PRETOKENIZE_REGEX`), written
/// out by hand as `GPT2Split` is:
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// and cl100k's (Llama 3, OLMo 2), the same but for `\p{N}{1,3}`: digits in runs of up to three.
/// At each position the first alternative that matches wins, as in the regex engine; together the
/// pieces cover the text exactly. Where it differs from GPT-2's: numbers go one digit at a time (or three),
/// contractions match in any case, one non-letter (a tab, `$`, `(`) joins the letters after it,
/// and newlines stay with the whitespace or punctuation before them.
enum QwenSplit {
    typealias Class = GPT2Split.Class

    /// The regex as Qwen's tokenizer.json writes it (a `Split` with this pattern selects this split).
    static let pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// cl100k's, as Llama 3's and OLMo 2's tokenizer.json write it.
    static let cl100kPattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// `digitRun`: the most digits one piece takes (1: Qwen 2, 3: cl100k).
    static func split(_ scalars: [Unicode.Scalar], digitRun: Int) -> [Range<Int>] {
        let classes = scalars.map(GPT2Split.classify)
        var pieces: [Range<Int>] = []
        var start = 0
        while start < scalars.count {
            let end = pieceEnd(scalars, classes, from: start, digitRun: digitRun)
            pieces.append(start..<end)
            start = end
        }
        return pieces
    }

    @inline(__always) static func isNewline(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" }

    private static func pieceEnd(_ scalars: [Unicode.Scalar], _ classes: [Class], from i: Int, digitRun: Int) -> Int {
        let count = scalars.count
        // (?i:'s|'t|'re|'ve|'m|'ll|'d): case-insensitive, so ſ (U+017F) folds to s as well.
        if scalars[i] == "'", i + 1 < count {
            let a = lower(scalars[i + 1])
            if a == "s" || a == "t" || a == "m" || a == "d" { return i + 2 }
            if i + 2 < count {
                let b = lower(scalars[i + 2])
                if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return i + 3 }
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        var j = i
        if classes[i] != .letter, classes[i] != .number, !isNewline(scalars[i]), i + 1 < count, classes[i + 1] == .letter { j = i + 1 }
        if classes[j] == .letter {
            var k = j + 1
            while k < count, classes[k] == .letter { k += 1 }
            return k
        }
        // \p{N} or \p{N}{1,3}: up to `digitRun` at a time.
        if classes[i] == .number {
            var k = i + 1
            while k < count, k - i < digitRun, classes[k] == .number { k += 1 }
            return k
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        j = i
        if scalars[i] == " ", i + 1 < count, classes[i + 1] == .other { j = i + 1 }
        if classes[j] == .other {
            var k = j + 1
            while k < count, classes[k] == .other { k += 1 }
            while k < count, isNewline(scalars[k]) { k += 1 }
            return k
        }
        // Whitespace from here: the run, then \s*[\r\n]+ (to just after its last newline), else
        // \s+(?!\S) (the run less its last character when a non-space follows), else \s+.
        var end = i + 1
        while end < count, classes[end] == .space { end += 1 }
        if let lastNewline = (i..<end).last(where: { isNewline(scalars[$0]) }) { return lastNewline + 1 }
        if end < count, end - i > 1 { return end - 1 }
        return end
    }

    /// The letters the contractions spell, case-folded (ASCII and the long s).
    private static func lower(_ s: Unicode.Scalar) -> Unicode.Scalar {
        if s == "\u{017F}" { return "s" }
        if ("A"..."Z").contains(s) { return Unicode.Scalar(s.value + 32)! }
        return s
    }
}
