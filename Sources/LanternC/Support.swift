import Foundation
import Analyses
import Lantern

// The C ABI the Python package (python/lantern) loads with ctypes. Conventions, for every function:
// - objects are opaque handles (a retained Swift object), released with its `*_free` function;
// - the last argument is `char **error`: on failure the function stores a malloc'd one-line message,
//   "<kind>\u{1F}<Lantern's message>" (kind: bad_file, shape, invalid_argument, unsupported, backend,
//   callback, cancelled, other), and returns NULL, -1 or 0 as its comment says; the caller frees it with
//   `lantern_free`;
// - strings returned are malloc'd UTF-8 (free with `lantern_free`); arrays the caller reads are
//   written into buffers the caller allocated, or lent with the handle that owns them.

public typealias ErrorOut = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

/// A Python hook (or generation callback) raised: its exception is kept on the Python side.
struct CallbackFailed: Error {}

func errorLine(_ error: any Error) -> String {
    switch error {
    case let e as LanternError:
        let kind = switch e {
        case .badFile: "bad_file"
        case .shapeMismatch: "shape"
        case .invalidArgument: "invalid_argument"
        case .unsupported: "unsupported"
        case .backend: "backend"
        }
        return kind + "\u{1F}" + e.description
    case let e as AnalysisError:
        return (e.kind == .cancelled ? "cancelled" : "invalid_argument") + "\u{1F}" + e.message
    case is CallbackFailed:
        return "callback\u{1F}a Python callback raised"
    default:
        return "other\u{1F}\(error)"
    }
}

/// Runs `body`, turning a thrown error into `*error` and `fallback`.
func guarded<T>(_ error: ErrorOut, _ fallback: T, _ body: () throws -> T) -> T {
    do {
        return try body()
    } catch let failure {
        error?.pointee = strdup(errorLine(failure))
        return fallback
    }
}

func retained(_ object: AnyObject) -> UnsafeMutableRawPointer { Unmanaged.passRetained(object).toOpaque() }

func borrowed<T: AnyObject>(_ handle: UnsafeMutableRawPointer?, as type: T.Type, what: String) throws -> T {
    guard let handle else { throw LanternError.invalidArgument("no \(what) (a closed or null handle)") }
    return Unmanaged<T>.fromOpaque(handle).takeUnretainedValue()
}

func release<T: AnyObject>(_ handle: UnsafeMutableRawPointer?, as type: T.Type) {
    guard let handle else { return }
    Unmanaged<T>.fromOpaque(handle).release()
}

func string(_ text: UnsafePointer<CChar>?) -> String? { text.map { String(cString: $0) } }

func ids(_ pointer: UnsafePointer<Int32>?, _ count: Int64) throws -> [Int32] {
    guard count >= 0 else { throw LanternError.invalidArgument("a negative token count (\(count))") }
    guard count > 0 else { return [] }
    guard let pointer else { throw LanternError.invalidArgument("no token ids (null pointer)") }
    return Array(UnsafeBufferPointer(start: pointer, count: Int(count)))
}

/// `count` sequences held one after another at `pointer`, `lengths[i]` tokens each (at least one).
func sequences(_ pointer: UnsafePointer<Int32>?, _ lengths: UnsafePointer<Int64>?, _ count: Int64) throws -> [[Int32]] {
    guard count > 0, let lengths else { throw LanternError.invalidArgument("a batch needs at least one sequence") }
    let sizes = Array(UnsafeBufferPointer(start: lengths, count: Int(count)))
    if let bad = sizes.first(where: { $0 <= 0 }) {
        throw LanternError.invalidArgument("a sequence of \(bad) tokens in the batch: every sequence needs at least one")
    }
    let (total, overflow) = sizes.reduce((Int64(0), false)) { sum, size in
        let (next, over) = sum.0.addingReportingOverflow(size)
        return (next, sum.1 || over)
    }
    guard !overflow else { throw LanternError.invalidArgument("the batch's lengths overflow") }
    let all = try ids(pointer, total)
    var out: [[Int32]] = [], start = 0
    for size in sizes {
        out.append(Array(all[start..<(start + Int(size))]))
        start += Int(size)
    }
    return out
}

func floats(_ pointer: UnsafePointer<Float>?, _ count: Int) throws -> [Float] {
    guard count > 0 else { return [] }
    guard let pointer else { throw LanternError.invalidArgument("no values (null pointer)") }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
}

func jsonText(_ object: Any) throws -> UnsafeMutablePointer<CChar>? {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return strdup(String(decoding: data, as: UTF8.self))
}

/// Frees a string or array this library returned.
@_cdecl("lantern_free")
public func lantern_free(_ pointer: UnsafeMutableRawPointer?) { free(pointer) }
