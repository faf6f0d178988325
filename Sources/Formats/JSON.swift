/// A small JSON reader that keeps object members as an ordered list of exact strings. Every file
/// format that needs JSON strictly (safetensors headers, shard indexes, tokenizer.json) reads it
/// here: duplicate members stay visible, nesting is bounded, numbers are checked, not truncated.
///
/// `JSONSerialization` cannot be used for vocabularies: its objects are Swift dictionaries, whose
/// `String` keys compare by canonical equivalence, so tokens like `é` (U+00E9) and `é` (e + U+0301),
/// or `;` and the Greek question mark (U+037E), collapse into one. Gemma has 434 such pairs.
public enum JSONValue: Sendable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// A number written with a fraction or an exponent (`256.0`, `1e3`), or an integer too large
    /// for an Int.
    case number(Double)
    /// A number written as an integer (`256`): only these are integers (`int`), so a count or an
    /// offset written as `256.0` is refused rather than taken for 256.
    case integer(Int)
    case bool(Bool)
    case null

    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }

    public var string: String? { if case let .string(s) = self { s } else { nil } }
    public var array: [JSONValue]? { if case let .array(a) = self { a } else { nil } }
    public var members: [(key: String, value: JSONValue)]? { if case let .object(m) = self { m } else { nil } }
    public var bool: Bool? { if case let .bool(b) = self { b } else { nil } }
    /// An integer written as one, below 10^15 in size (shapes, offsets, token ids).
    public var int: Int? {
        guard case let .integer(n) = self, n.magnitude < 1_000_000_000_000_000 else { return nil }
        return n
    }
    public var number: Double? {
        switch self {
        case let .number(n): n
        case let .integer(n): Double(n)
        default: nil
        }
    }

    /// A short rendering for error messages ("a string", "-3", "an object").
    public var summary: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case let .string(s): "the string \"\(s.prefix(40))\""
        case let .number(n): String(n)
        case let .integer(n): String(n)
        case let .bool(b): String(b)
        case .null: "null"
        }
    }

    /// The first member name that occurs twice in this object (compared byte for byte), if any.
    public var duplicateKey: String? {
        guard let members else { return nil }
        var seen = Set<[UInt8]>()
        for (key, _) in members where !seen.insert(Array(key.utf8)).inserted { return key }
        return nil
    }
}

public struct JSONReader {
    public struct Failure: Error, Sendable {
        public var offset: Int
        public var message: String
    }

    private let bytes: [UInt8]
    private var i = 0

    /// Parses a whole document.
    public static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.i == bytes.count else { throw Failure(offset: reader.i, message: "text after the JSON value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private func fail(_ message: String) -> Failure { Failure(offset: i, message: message) }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard depth < 256 else { throw fail("nested too deeply") }
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end of file") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(key: String, value: JSONValue)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                let key = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return try number()
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard i + count <= bytes.count else { throw fail("unexpected end of file") }
        for k in 0..<count where bytes[i + k] != word.utf8Start[k] { throw fail("unknown literal") }
        i += count
    }

    private mutating func number() throws(Failure) -> JSONValue {
        let start = i
        var integral = true
        while i < bytes.count, let c = Optional(bytes[i]),
              (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
              || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") { integral = false }
            i += 1
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral, let n = Int(text) { return .integer(n) }
        guard i > start, let value = Double(text) else { throw fail("expected a value") }
        guard value.isFinite else { throw fail("number out of range") }
        return .number(value)
    }

    private mutating func string() throws(Failure) -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes.
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") { i += 1 }
        guard i < bytes.count else { throw fail("unterminated string") }
        if bytes[i] == UInt8(ascii: "\"") {
            i += 1
            return String(decoding: bytes[start..<(i - 1)], as: UTF8.self)
        }
        var out = Array(bytes[start..<i])
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard i < bytes.count else { throw fail("unterminated string") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                // A surrogate must come as a high-low pair: a lone one is no character, and
                // repairing it to U+FFFD would make two different files read the same.
                func escape(_ c: UInt32) -> String {
                    let hex = String(c, radix: 16)
                    return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                }
                var code = try hex4()
                if (0xDC00..<0xE000).contains(code) { throw fail("a lone low surrogate \(escape(code))") }
                if (0xD800..<0xDC00).contains(code) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("a lone high surrogate \(escape(code))")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else {
                        throw fail("the high surrogate \(escape(code)) is followed by \(escape(low)), not a low one")
                    }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("bad \\u escape") }
                out.append(contentsOf: String(scalar).utf8)
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            default: throw fail("\\\(Character(Unicode.Scalar(e))) is not a JSON escape")
            }
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        // Four hex digits exactly: UInt32(_:radix:) alone would take a sign ("+abc").
        guard i + 4 <= bytes.count, bytes[i..<(i + 4)].allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }),
              let value = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw fail("bad \\u escape")
        }
        i += 4
        return value
    }
}
