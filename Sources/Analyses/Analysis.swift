import Foundation
import Lantern

/// One analysis, written once: a typed request that owns its fields, defaults and ranges, and
/// runs on a model to an `Encodable` result. The CLI (argv → request → table, page or JSON), the
/// server (HTTP JSON → request → queue → JSON) and the C ABI / Python (request JSON → result JSON)
/// only adapt it, so `--json`, the HTTP response and Python's result are the same bytes.
public protocol AnalysisRequest: Sendable {
    associatedtype Result: Encodable
    /// The name the C ABI and Python call it by; the server serves it at `/api/<name>`.
    static var name: String { get }
    /// One sentence for the OpenAPI document and the CLI's help.
    static var summary: String { get }
    /// Every field the request reads from JSON: its key, its CLI flag, its type, default and range.
    static var fields: [Field] { get }
    /// The request a JSON object describes (types checked; ranges are `validate`'s).
    init(json: RequestFields) throws
    /// Refuses values outside what this model, these SAEs and these limits can run, in one line
    /// naming the field as the front-end spells it.
    func validate(against context: AnalysisContext) throws
    /// Runs the analysis (after `validate`), reporting progress and stopping when cancelled.
    func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> Result
}

extension AnalysisRequest {
    /// Validates, runs and encodes: what the server, the C ABI and Python do with a request.
    public func json(on context: AnalysisContext, monitor: AnalysisMonitor = AnalysisMonitor()) throws -> Data {
        try validate(against: context)
        return try AnalysisJSON.encode(try run(on: context, monitor: monitor))
    }
}

/// Why a request cannot run, in one line; `kind` chooses the HTTP status and the C ABI's error kind.
public struct AnalysisError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// A field's value is wrong (400).
        case invalid
        /// The server was not started with what the request needs: an SAE, a corpus (404).
        case notFound
        /// A request naming a file (403).
        case forbidden
        /// A prompt or a body over the limits (413).
        case tooLarge
        /// The caller went away or asked to stop.
        case cancelled
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
    public static func invalid(_ message: String) -> AnalysisError { AnalysisError(.invalid, message) }
}

/// Progress reports and cancellation for long analyses: the CLI draws a bar, the server streams
/// events, Python shows a progress bar and turns Ctrl-C into `cancel`.
public final class AnalysisMonitor: @unchecked Sendable {
    private let progress: (@Sendable (_ done: Int, _ total: Int, _ label: String) throws -> Void)?
    private let cancelled: (@Sendable () -> Bool)?

    /// `progress` may throw to stop the work (the server's sliced jobs yield the model's queue there).
    public init(progress: (@Sendable (Int, Int, String) throws -> Void)? = nil, cancelled: (@Sendable () -> Bool)? = nil) {
        self.progress = progress
        self.cancelled = cancelled
    }

    /// Reports `done` of `total` steps, then throws if the caller asked to stop.
    public func step(_ done: Int, of total: Int, _ label: String) throws {
        try progress?(done, total, label)
        try checkCancelled()
    }

    public func checkCancelled() throws {
        if cancelled?() == true { throw AnalysisError(.cancelled, "cancelled") }
    }
}

/// The JSON every front-end writes for a result: keys sorted, no escaped slashes, so the CLI's
/// `--json`, the server's body and the C ABI's string are the same bytes.
public enum AnalysisJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value)
        } catch EncodingError.invalidValue(let value, _) {
            // JSON has no NaN or ±∞; the forward pass's checks should have stopped them earlier.
            throw LanternError.invalidArgument("the result holds a value JSON cannot write (\(value))")
        }
    }

    public static func string<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}
