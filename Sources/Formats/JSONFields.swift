import Foundation
import LanternCore

/// Strict, typed reading of a JSON object parsed by `JSONSerialization` (config.json, cfg.json):
/// a value of the wrong type is an error that names the file and the key, never a silent default;
/// `null` counts as absent. Numbers must be finite; integers exact (2.5, 1e300, `true` are refused).
public struct JSONFields {
    public let json: [String: Any]
    public let path: String
    /// Prepended to keys in messages ("rope_parameters.full_attention.").
    public let prefix: String

    public init(_ json: [String: Any], path: String, prefix: String = "") {
        self.json = json
        self.path = path
        self.prefix = prefix
    }

    public func bad(_ key: String, _ problem: String) -> LanternError {
        .badFile(path: path, field: prefix + key, problem: problem)
    }

    /// The value at `key`, nil when absent or null.
    public subscript(key: String) -> Any? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return v
    }

    /// JSON `true`/`false` (Foundation hands them out as NSNumbers whose type code is "c").
    public static func isBool(_ value: Any) -> Bool {
        if type(of: value) == Bool.self { return true }
        if type(of: value) == Int.self || type(of: value) == Double.self { return false }
        guard let n = value as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    /// An integral number (no fraction, below 2^63 in size), not a bool. Callers bound it further.
    public static func exactInt(_ value: Any) -> Int? {
        guard let d = finite(value), d == d.rounded(), abs(d) < 9.2e18 else { return nil }
        return Int(d)
    }

    /// A finite number, not a bool.
    public static func finite(_ value: Any) -> Double? {
        guard !(value is String), let n = value as? NSNumber, !isBool(value), n.doubleValue.isFinite else { return nil }
        return n.doubleValue
    }

    /// A short rendering of a value for error messages.
    public static func describe(_ value: Any) -> String {
        if isBool(value) { return (value as! NSNumber).boolValue ? "true" : "false" }
        if let s = value as? String { return "the string \"\(s.prefix(40))\"" }
        if let n = value as? NSNumber { return "\(n)" }
        if value is [Any] { return "an array" }
        if value is [String: Any] { return "an object" }
        return "\(value)"
    }

    public func string(_ key: String) throws -> String {
        guard let v = try optionalString(key) else { throw bad(key, "missing") }
        return v
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard let s = v as? String else { throw bad(key, "expected a string, got \(Self.describe(v))") }
        return s
    }

    public func int(_ key: String, in range: ClosedRange<Int>) throws -> Int {
        guard let v = try optionalInt(key, in: range) else { throw bad(key, "missing") }
        return v
    }

    /// An integer within `range` (checked here, before anything is sized by it).
    public func optionalInt(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = self[key] else { return nil }
        guard let n = Self.exactInt(v) else { throw bad(key, "expected an integer, got \(Self.describe(v))") }
        guard range.contains(n) else { throw bad(key, "\(n) is outside \(range.lowerBound)...\(range.upperBound)") }
        return n
    }

    /// A finite number; `positive` also refuses zero and negatives.
    public func optionalDouble(_ key: String, positive: Bool = false) throws -> Double? {
        guard let v = self[key] else { return nil }
        guard let d = Self.finite(v) else { throw bad(key, "expected a finite number, got \(Self.describe(v))") }
        if positive, !(d > 0) { throw bad(key, "\(d) must be positive") }
        return d
    }

    public func optionalBool(_ key: String) throws -> Bool? {
        guard let v = self[key] else { return nil }
        guard Self.isBool(v), let b = v as? Bool else { throw bad(key, "expected true or false, got \(Self.describe(v))") }
        return b
    }

    public func optionalObject(_ key: String) throws -> JSONFields? {
        guard let v = self[key] else { return nil }
        guard let o = v as? [String: Any] else { throw bad(key, "expected an object, got \(Self.describe(v))") }
        return JSONFields(o, path: path, prefix: prefix + key + ".")
    }

    public func optionalStrings(_ key: String) throws -> [String]? {
        guard let v = self[key] else { return nil }
        guard let list = v as? [Any], let strings = list as? [String], strings.count == list.count else {
            throw bad(key, "expected a list of strings, got \(Self.describe(v))")
        }
        return strings
    }

    /// One integer or a list of them (token ids: `eos_token_id` may be either).
    public func optionalInts(_ key: String, in range: ClosedRange<Int>) throws -> [Int]? {
        guard let v = self[key] else { return nil }
        let items = v as? [Any] ?? [v]
        return try items.map { item in
            guard let n = Self.exactInt(item) else { throw bad(key, "expected an integer or a list of integers, got \(Self.describe(item))") }
            guard range.contains(n) else { throw bad(key, "\(n) is outside \(range.lowerBound)...\(range.upperBound)") }
            return n
        }
    }
}
