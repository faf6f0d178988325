/// GPT-2's spelling of bytes as printable characters, and its pre-tokenizer split.
enum ByteLevel {
    /// `byteToScalar[b]`: the character byte `b` is spelled with. Printable Latin-1 bytes stand for
    /// themselves; the other 68 take the code points from U+0100 upwards, in byte order.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse of `byteToScalar`.
    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in byteToScalar.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// The byte-level spelling of `text`'s UTF-8 bytes.
    static func spell<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var view = String.UnicodeScalarView()
        for byte in bytes { view.append(byteToScalar[Int(byte)]) }
        return String(view)
    }

    /// Whether every character of `token` is in the byte alphabet.
    static func isSpelled(_ token: String) -> Bool {
        token.unicodeScalars.allSatisfy { scalarToByte[$0.value] != nil }
    }

    /// The bytes a byte-level token stands for; a token with a character outside the alphabet
    /// (an added token written plainly) stands for its own UTF-8 bytes.
    static func bytes(of token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard let byte = scalarToByte[scalar.value] else { return Array(token.utf8) }
            out.append(byte)
        }
        return out
    }
}

/// The GPT-2 pre-tokenizer, written out by hand instead of with a regex engine:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
enum GPT2Split {
    enum Class { case letter, number, space, other }

    @inline(__always)
    static func classify(_ scalar: Unicode.Scalar) -> Class {
        let value = scalar.value
        if value < 0x80 {
            switch value {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .space
            default: return .other
            }
        }
        let properties = scalar.properties
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return properties.isWhitespace ? .space : .other
        }
    }

    /// The pieces of `scalars`, as ranges, in order; together they cover it exactly.
    static func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let count = scalars.count
        let classes = scalars.map(classify)
        var pieces: [Range<Int>] = []
        var start = 0
        while start < count {
            let end = pieceEnd(scalars, classes, from: start)
            pieces.append(start..<end)
            start = end
        }
        return pieces
    }

    private static func pieceEnd(_ scalars: [Unicode.Scalar], _ classes: [Class], from i: Int) -> Int {
        let count = scalars.count
        // Contractions: 's 't 'm 'd 're 've 'll (lower case only, as GPT-2's regex is case-sensitive).
        if scalars[i] == "'", i + 1 < count {
            let a = scalars[i + 1]
            if a == "s" || a == "t" || a == "m" || a == "d" { return i + 2 }
            if i + 2 < count {
                let b = scalars[i + 2]
                if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return i + 3 }
            }
        }
        // ` ?X+` for letters, numbers and "other": an optional plain space, then a run of one class.
        var j = i
        if scalars[i] == " ", i + 1 < count, classes[i + 1] != .space { j = i + 1 }
        let runClass = classes[j]
        if runClass != .space {
            var k = j + 1
            while k < count, classes[k] == runClass { k += 1 }
            return k
        }
        // Whitespace: the run, less its last character when a non-space follows (`\s+(?!\S)`),
        // unless the run is one character long (then `\s+` takes it).
        var k = i + 1
        while k < count, classes[k] == .space { k += 1 }
        if k < count, k - i > 1 { return k - 1 }
        return k
    }
}
