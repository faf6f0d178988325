import Analyses
import ArgumentParser
import Foundation

/// The one rule every numeric option follows: a value outside what the command can use is
/// refused before anything runs, with one line naming the flag and what was expected — never a
/// trap later (an Int.max count overflowing `prompt + new tokens`, a NaN temperature reaching a
/// float→int conversion, a width of 2^32 reaching an allocation). Bounds are generous: they stop
/// nonsense, not unusual but meaningful runs; limits that depend on the model (its context, its
/// vocabulary) are checked where the model is known.
enum OptionCheck {
    /// The largest count any option takes (tokens, rows, steps): far above any real run, far
    /// below where `count × width` products overflow.
    static let maxCount = 1 << 40

    /// `value` (when given) lies in `bounds`.
    static func integer<T: FixedWidthInteger>(_ value: T?, _ flag: String, _ bounds: ClosedRange<T>) throws {
        guard let value, !bounds.contains(value) else { return }
        throw ValidationError("\(flag) must be between \(bounds.lowerBound) and \(bounds.upperBound), not \(value)")
    }

    /// Every value of a list option lies in `bounds`.
    static func integers<T: FixedWidthInteger>(_ values: [T], _ flag: String, _ bounds: ClosedRange<T>) throws {
        for value in values { try integer(value, flag, bounds) }
    }

    /// `value` (when given) is finite and lies in `bounds`; `above` excludes the lower bound itself
    /// (a learning rate of 0 is as useless as a negative one).
    static func number<F: BinaryFloatingPoint>(_ value: F?, _ flag: String, _ bounds: ClosedRange<Double>,
                                                above: Bool = false) throws {
        guard let value else { return }
        let v = Double(value)
        let inside = v.isFinite && bounds.contains(v) && !(above && v == bounds.lowerBound)
        guard !inside else { return }
        let lower = "\(above ? ">" : "≥") \(short(bounds.lowerBound))"
        let expected = bounds.lowerBound.isInfinite && bounds.upperBound.isInfinite ? "a finite number"
            : bounds.upperBound.isInfinite ? "a finite number \(lower)"
            : bounds.lowerBound.isInfinite ? "a finite number ≤ \(short(bounds.upperBound))"
            : "a finite number \(lower) and ≤ \(short(bounds.upperBound))"
        throw ValidationError("\(flag) must be \(expected), not \(value)")
    }

    /// 1e30 rather than 1000000000000000000000000000000.0.
    private static func short(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e9 ? String(Int(x)) : "\(x)"
    }

    /// An analysis request's field given as a flag: within the range the request declares.
    static func field<T: FixedWidthInteger>(_ value: T?, _ field: Field) throws {
        guard case let .integer(range) = field.kind, let value else { return }
        try integer(Int(exactly: value) ?? Int.max, field.flag, range)
    }

    static func field<F: BinaryFloatingPoint>(_ value: F?, _ field: Field, above: Bool = false) throws {
        guard case let .number(range) = field.kind else { return }
        try number(value, field.flag, range, above: above)
    }

    /// Bytes for `factors` multiplied out, or nil when the product overflows.
    static func bytes(_ factors: [Int]) -> Int? {
        var total = 1
        for f in factors {
            let (product, overflow) = total.multipliedReportingOverflow(by: max(f, 0))
            if overflow { return nil }
            total = product
        }
        return total
    }

    /// Refuses a run whose arrays would need more memory than this machine has, before allocating
    /// them (an allocation that large aborts the process instead of failing).
    static func fitsInMemory(_ bytes: Int?, _ what: String) throws {
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        guard let bytes, Double(bytes) <= physical else {
            let needed = bytes.map { String(format: "%.1f GB", Double($0) / 1e9) } ?? "more than 2^63 bytes"
            throw ValidationError("\(what) needs \(needed), more than this machine's \(String(format: "%.1f GB", physical / 1e9)) of memory")
        }
    }
}

extension ArgumentHelp {
    /// A flag's help from the analysis field it sets.
    init(_ field: Field) { self.init(stringLiteral: field.help) }
}
