import Foundation
import LanternCore

/// A JSON config file described field by field, and read only through that description.
///
/// A loader declares every key it reads — its JSON type, whether it is required, its default and
/// its range — and `read` checks the whole file against the declaration before the loader sees a
/// value; the loader then gets values back only by the declared keys (`ConfigValues`). Checking
/// cannot be skipped: there is no other way to the file's contents. Types are strict (`true` is not
/// a number, `1` is not a bool, `256.0` is not an integer), `null` means absent, a member named
/// twice is refused, and every problem is one line naming the file and the key.
public struct ConfigSchema: Sendable {
    public enum NumberBound: Sendable { case any, atLeastZero, positive }

    public enum Kind: Sendable {
        /// Any string, or one of `choices` (`expected` describes them in the message).
        case string
        case choice([String], expected: String)
        case integer(ClosedRange<Int>)
        case number(NumberBound)
        case boolean
        case object
        /// A list of objects (each one read with a schema of its own: `ConfigValues.objects`).
        case objects
        case strings
        /// One integer or a list of them within the range (`eos_token_id` may be either).
        case integers(ClosedRange<Int>)
        /// Must be absent or null: a feature Lantern does not support (`why` says which).
        case unsupported(why: String)
    }

    public enum Presence: Sendable {
        case optional
        case required(note: String = "")
        /// Required when the field `key` holds one of `values` (a topk folder needs its k).
        case requiredWhen(key: String, values: [String], note: String)
        case defaultValue(JSONValue)
    }

    public struct Field: Sendable {
        /// A top-level key, or a dotted path into nested objects (`activation_fn_kwargs.k`).
        public var key: String
        public var kind: Kind
        public var presence: Presence

        public init(_ key: String, _ kind: Kind, _ presence: Presence = .optional) {
            self.key = key
            self.kind = kind
            self.presence = presence
        }
    }

    /// Relations between fields, checked after every field's own check.
    public enum Rule: Sendable {
        /// `key` ≤ `limit` when both are present (TopK's k within the width).
        case atMost(String, limit: String)
    }

    public var fields: [Field]
    public var rules: [Rule]

    public init(_ fields: [Field], rules: [Rule] = []) {
        self.fields = fields
        self.rules = rules
    }

    /// Reads `path` as one JSON object and checks it against the schema.
    public func read(path: String) throws -> ConfigValues {
        func bad(_ problem: String) -> LanternError { .badFile(path: path, field: "file", problem: problem) }
        guard let data = FileManager.default.contents(atPath: path) else { throw bad("cannot be read") }
        let root: JSONValue
        do {
            root = try JSONReader.parse([UInt8](data))
        } catch {
            throw bad("is not a JSON object (byte \(error.offset): \(error.message))")
        }
        return try read(root, path: path)
    }

    public func read(_ root: JSONValue, path: String) throws -> ConfigValues {
        guard root.members != nil else { throw LanternError.badFile(path: path, field: "file", problem: "is not a JSON object") }
        var values: [String: JSONValue] = [:]
        for field in fields {
            if let value = try Self.lookup(field.key, in: root, path: path) {
                try Self.check(value, field, path: path)
                values[field.key] = value
            } else if case let .defaultValue(value) = field.presence {
                values[field.key] = value
            }
        }
        let read = ConfigValues(path: path, values: values, declared: Set(fields.map(\.key)))
        for field in fields where values[field.key] == nil {
            switch field.presence {
            case let .required(note):
                throw read.bad(field.key, "missing" + (note.isEmpty ? "" : " (\(note))"))
            case let .requiredWhen(key, choices, note) where values[key]?.string.map(choices.contains) == true:
                throw read.bad(field.key, "missing (\(note))")
            default: break
            }
        }
        for rule in rules {
            switch rule {
            case let .atMost(key, limit):
                if let n = values[key]?.int, let m = values[limit]?.int, n > m { throw read.bad(key, "\(n) is more than \(limit) \(m)") }
            }
        }
        return read
    }

    /// The value at a dotted key; nil when it (or an object on the way) is absent or null.
    public static func lookup(_ key: String, in root: JSONValue, path: String) throws -> JSONValue? {
        var current = root
        var walked: [Substring] = []
        for part in key.split(separator: ".", omittingEmptySubsequences: false) {
            guard current.members != nil else {
                throw LanternError.badFile(path: path, field: walked.joined(separator: "."), problem: "expected an object, got \(describe(current))")
            }
            if let twice = current.duplicateKey {
                throw LanternError.badFile(path: path, field: (walked + [Substring(twice)]).joined(separator: "."), problem: "appears twice")
            }
            walked.append(part)
            guard let next = current[String(part)] else { return nil }
            if case .null = next { return nil }
            current = next
        }
        return current
    }

    static func check(_ value: JSONValue, _ field: Field, path: String) throws {
        func bad(_ problem: String) -> LanternError { .badFile(path: path, field: field.key, problem: problem) }
        let got = ", got \(describe(value))"
        switch field.kind {
        case .string:
            guard value.string != nil else { throw bad("expected a string" + got) }
        case let .choice(choices, expected):
            guard let s = value.string else { throw bad("expected a string" + got) }
            guard choices.contains(s) else { throw bad("'\(s.prefix(80))' is not supported (expected \(expected))") }
        case let .integer(range):
            guard let n = value.int, range.contains(n) else { throw bad("expected \(describe(range))" + got) }
        case let .number(bound):
            guard let d = value.number, d.isFinite,
                  bound != .positive || d > 0, bound != .atLeastZero || d >= 0 else {
                throw bad("expected a finite number\(bound == .positive ? " > 0" : bound == .atLeastZero ? " ≥ 0" : "")" + got)
            }
        case .boolean:
            guard value.bool != nil else { throw bad("expected true or false" + got) }
        case .object:
            guard value.members != nil else { throw bad("expected an object" + got) }
        case .objects:
            guard let items = value.array, items.allSatisfy({ $0.members != nil }) else { throw bad("expected a list of objects" + got) }
            if let twice = value.duplicateKey { throw LanternError.badFile(path: path, field: field.key + "." + twice, problem: "appears twice") }
        case let .integers(range):
            for item in value.array ?? [value] {
                guard let n = item.int, range.contains(n) else {
                    throw bad("expected an integer in \(range.lowerBound)…\(range.upperBound) or a list of them, got \(describe(item))")
                }
            }
        case .strings:
            guard let list = value.array, list.allSatisfy({ $0.string != nil }) else { throw bad("expected a list of strings" + got) }
        case let .unsupported(why):
            throw bad(why)
        }
    }

    static func describe(_ range: ClosedRange<Int>) -> String {
        func bound(_ n: Int) -> String {
            n >= 1 << 16 && n.nonzeroBitCount == 1 ? "2^\(n.trailingZeroBitCount)" : "\(n)"
        }
        let upper = range.upperBound == .max ? "" : " up to \(bound(range.upperBound))"
        switch range.lowerBound {
        case 1: return "a positive integer" + upper
        case 0: return "an integer ≥ 0" + upper
        default: return "an integer in \(range.lowerBound)…\(bound(range.upperBound))"
        }
    }

    /// A short rendering of a value for messages: `"16k"`, `5`, `true`, `a list`, `an object`.
    public static func describe(_ value: JSONValue) -> String {
        switch value {
        case let .string(s): "\"\(s.prefix(40))\""
        case .array: "a list"
        case .object: "an object"
        default: value.summary
        }
    }
}

/// The values of a config file that passed its schema, by declared key.
public struct ConfigValues: Sendable {
    public let path: String
    let values: [String: JSONValue]
    let declared: Set<String>

    public func bad(_ key: String, _ problem: String) -> LanternError { .badFile(path: path, field: key, problem: problem) }

    /// The value of a declared key (nil when absent and without default). Reading a key the
    /// schema does not declare is a programming error, refused in one line rather than trapped.
    func value(_ key: String) throws -> JSONValue? {
        guard declared.contains(key) else { throw bad(key, "read but not declared in the file's schema (a bug in the loader)") }
        return values[key]
    }

    public func has(_ key: String) throws -> Bool { try value(key) != nil }
    public func string(_ key: String) throws -> String? { try value(key)?.string }
    /// The objects of an `.objects` key, for a schema of their own.
    public func objects(_ key: String) throws -> [JSONValue]? { try value(key)?.array }
    public func int(_ key: String) throws -> Int? { try value(key)?.int }
    public func double(_ key: String) throws -> Double? { try value(key)?.number }
    public func bool(_ key: String) throws -> Bool? { try value(key)?.bool }
    public func strings(_ key: String) throws -> [String]? { try value(key)?.array?.compactMap(\.string) }
    /// One integer or a list of them, as a list.
    public func ints(_ key: String) throws -> [Int]? { try value(key).map { v in (v.array ?? [v]).compactMap(\.int) } }

    /// For required (or defaulted) keys: present once `read` returned.
    public func required<T>(_ key: String, _ get: (String) throws -> T?) throws -> T {
        guard let v = try get(key) else { throw bad(key, "missing") }
        return v
    }
}
