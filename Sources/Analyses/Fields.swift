import Foundation
import Lantern

/// One field of a request: its JSON key, its CLI flag, what it holds, its default and its range.
/// The same description reads JSON, names the field in error lines and writes the OpenAPI schema.
public struct Field: Sendable {
    public enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        case number(ClosedRange<Double>)
        case string(choices: [String])
        case integers
        case numbers
        case strings
        case boolean
        /// A token: an id, or text that is exactly one token.
        case token
        /// A list of objects (the steering features).
        case objects([Field])
    }

    /// A server limit that narrows the range (the CLI has none).
    public enum Limit: Sendable {
        case topCount, newTokens, steeringFeatures, steeringStrength, graphBatch
        func value(in limits: AnalysisLimits) -> Double {
            switch self {
            case .graphBatch: Double(limits.graphBatch)
            case .topCount: Double(limits.topCount)
            case .newTokens: Double(limits.newTokens)
            case .steeringFeatures: Double(limits.steeringFeatures)
            case .steeringStrength: Double(limits.steeringStrength)
            }
        }
    }

    public let key: String
    public let flag: String
    public let kind: Kind
    public let limit: Limit?
    /// The default as the documentation shows it (nil: required or "not given").
    public let defaultText: String?
    public let help: String

    public init(_ key: String, flag: String? = nil, _ kind: Kind, limit: Limit? = nil, default defaultText: String? = nil, _ help: String) {
        self.key = key
        self.flag = flag ?? "--" + key.replacingOccurrences(of: "_", with: "-")
        self.kind = kind
        self.limit = limit
        self.defaultText = defaultText
        self.help = help
    }

    /// The integer range this field takes under `limits`.
    public func integers(under limits: AnalysisLimits) -> ClosedRange<Int>? {
        guard case let .integer(range) = kind else { return nil }
        guard let cap = limit?.value(in: limits), cap < Double(range.upperBound) else { return range }
        return range.lowerBound...max(range.lowerBound, Int(cap))
    }

    /// The number range this field takes under `limits`.
    public func numbers(under limits: AnalysisLimits) -> ClosedRange<Double>? {
        guard case let .number(range) = kind else { return nil }
        guard let cap = limit?.value(in: limits), cap < range.upperBound else { return range }
        return max(range.lowerBound, -cap)...cap
    }

    /// "a finite number ≥ 0 and ≤ 100", "a finite number" for an unbounded range.
    public static func describe(_ range: ClosedRange<Double>) -> String {
        func short(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e9 ? String(Int(x)) : "\(x)" }
        switch (range.lowerBound.isFinite, range.upperBound.isFinite) {
        case (false, false): return "a finite number"
        case (true, false): return "a finite number ≥ \(short(range.lowerBound))"
        case (false, true): return "a finite number ≤ \(short(range.upperBound))"
        case (true, true): return "a finite number ≥ \(short(range.lowerBound)) and ≤ \(short(range.upperBound))"
        }
    }

    /// The prompt, as text or as ids: every prompt-taking request has both.
    public static let prompt = Field("prompt", .string(choices: []), "The prompt as text (BOS added as the tokenizer says).")
    public static let tokenIDs = Field("token_ids", .integers, "The prompt as token ids (instead of prompt).")
}

/// How a front-end spells a field in its error lines: `'top'` for JSON, `--top` on the command line.
public enum Spelling: Sendable {
    case json, cli
    public func name(_ field: Field) -> String { self == .json ? "'\(field.key)'" : field.flag }
}

/// A request's JSON object, read field by field: a value of the wrong type, and a key the request
/// does not have (a typo would otherwise be a silently ignored option), are refused in one line.
public struct RequestFields: @unchecked Sendable {
    public let object: [String: Any]

    public init(_ object: [String: Any]) { self.object = object }

    /// The object `data` holds (an empty body is an empty object).
    public init(json data: Data) throws {
        if data.isEmpty { self.init([:]); return }
        guard let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            throw AnalysisError.invalid("the request must be one JSON object")
        }
        self.init(fields)
    }

    /// Refuses keys none of `fields` has (`extra`: keys a front-end reads itself, such as "analysis").
    public func requireKnown(_ fields: [Field], extra: Set<String> = []) throws {
        let known = Set(fields.map(\.key)).union(extra)
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw AnalysisError.invalid("'\(unknown)' is not a field of this request; it takes \(known.sorted().map { "'\($0)'" }.joined(separator: ", "))")
        }
    }

    /// SAEs are chosen by index into what the front-end loaded: a path is refused (a request never names a file).
    public func refusePath(_ field: Field) throws {
        if object[field.key] is String {
            throw AnalysisError(.forbidden, "'\(field.key)' is an index into the SAEs given on the command line, not a path")
        }
    }

    /// JSON true/false: `is NSNumber` also holds for booleans, told apart by their storage type.
    static func isBool(_ value: Any) -> Bool {
        (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    }

    public func int(_ field: Field) throws -> Int? {
        guard let raw = object[field.key], !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, !Self.isBool(raw), let int = Int(exactly: number.doubleValue) else {
            throw AnalysisError.invalid("'\(field.key)' must be an integer, got \(Self.shown(raw))")
        }
        return int
    }

    public func double(_ field: Field) throws -> Double? {
        guard let raw = object[field.key], !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, !Self.isBool(raw) else {
            throw AnalysisError.invalid("'\(field.key)' must be a number, got \(Self.shown(raw))")
        }
        return number.doubleValue
    }

    public func string(_ field: Field) throws -> String? {
        guard let raw = object[field.key], !(raw is NSNull) else { return nil }
        guard let text = raw as? String else { throw AnalysisError.invalid("'\(field.key)' must be a string, got \(Self.shown(raw))") }
        if case let .string(choices) = field.kind, !choices.isEmpty, !choices.contains(text) {
            throw AnalysisError.invalid("'\(field.key)' must be one of \(choices.joined(separator: ", ")), got '\(text)'")
        }
        return text
    }

    public func ints(_ field: Field) throws -> [Int]? {
        guard let raw = object[field.key], !(raw is NSNull) else { return nil }
        guard let list = raw as? [Any] else { throw AnalysisError.invalid("'\(field.key)' must be a list of integers") }
        return try list.map { value in
            guard let number = value as? NSNumber, !Self.isBool(value), let int = Int(exactly: number.doubleValue) else {
                throw AnalysisError.invalid("'\(field.key)' must be a list of integers, got \(Self.shown(value)) in it")
            }
            return int
        }
    }

    public func numbers(_ field: Field) throws -> [Double]? {
        guard let raw = object[field.key], !(raw is NSNull) else { return nil }
        guard let list = raw as? [Any] else { throw AnalysisError.invalid("'\(field.key)' must be a list of numbers") }
        return try list.map { value in
            guard let number = value as? NSNumber, !Self.isBool(value) else {
                throw AnalysisError.invalid("'\(field.key)' must be a list of numbers, got \(Self.shown(value)) in it")
            }
            return number.doubleValue
        }
    }

    public func bool(_ field: Field) throws -> Bool? {
        guard let raw = object[field.key], !(raw is NSNull) else { return nil }
        guard Self.isBool(raw), let flag = raw as? Bool else { throw AnalysisError.invalid("'\(field.key)' must be true or false, got \(Self.shown(raw))") }
        return flag
    }

    public func strings(_ field: Field) throws -> [String]? {
        guard let raw = object[field.key], !(raw is NSNull) else { return nil }
        guard let list = raw as? [Any], let strings = Optional(list.compactMap { $0 as? String }), strings.count == list.count else {
            throw AnalysisError.invalid("'\(field.key)' must be a list of strings")
        }
        return strings
    }

    /// A token given as an id (an integer) or as the text of one token.
    public func token(_ field: Field) throws -> TokenInput? {
        guard let raw = object[field.key], !(raw is NSNull) else { return nil }
        if let text = raw as? String { return .text(text) }
        guard let number = raw as? NSNumber, !Self.isBool(raw), let id = Int(exactly: number.doubleValue) else {
            throw AnalysisError.invalid("'\(field.key)' must be a token id or the text of one token, got \(Self.shown(raw))")
        }
        return .id(id)
    }

    /// A list of JSON objects, each read as fields of its own.
    public func objects(_ field: Field) throws -> [RequestFields]? {
        guard let raw = object[field.key], !(raw is NSNull) else { return nil }
        guard let list = raw as? [Any], let objects = Optional(list.compactMap { $0 as? [String: Any] }), objects.count == list.count else {
            throw AnalysisError.invalid("'\(field.key)' must be a list of objects")
        }
        return objects.map(RequestFields.init)
    }

    /// The prompt: `prompt` (text) or `token_ids`, not both. Nil when neither is given.
    public func prompt(text textField: Field = .prompt, ids idsField: Field = .tokenIDs) throws -> PromptInput? {
        switch (try string(textField), try ints(idsField)) {
        case (nil, nil): return nil
        case (.some, .some): throw AnalysisError.invalid("give '\(textField.key)' or '\(idsField.key)', not both")
        case let (text?, nil): return .text(text)
        case let (nil, ids?): return .ids(ids)
        }
    }

    static func shown(_ value: Any) -> String {
        if isBool(value) { return (value as? Bool) == true ? "true" : "false" }
        if let text = value as? String { return "'\(text)'" }
        if value is [Any] { return "a list" }
        if value is [String: Any] { return "an object" }
        return "\(value)"
    }
}

/// A prompt as the caller gave it: text for the tokenizer, or token ids.
public enum PromptInput: Sendable, Equatable {
    case text(String)
    case ids([Int])
}

/// A token as the caller gave it: an id, or text that must be exactly one token.
public enum TokenInput: Sendable, Equatable {
    case id(Int)
    case text(String)
}
