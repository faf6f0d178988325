import Foundation
import LanternCore

/// One array in NumPy's `.npy` format: magic, version, a Python-dict header, raw data.
/// Only what SAEs use: little-endian float32 (`<f4`) in C order.
public struct NPYArray: Sendable {
    public let shape: [Int]
    public let values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }

    /// Parses `.npy` bytes; `path` and `name` say where they came from in errors.
    public init(bytes data: Data, path: String, name: String) throws {
        func bad(_ problem: String) -> LanternError { .badFile(path: path, field: name, problem: problem) }
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard data.count >= 10, Array(data.prefix(6)) == magic else { throw bad("not a .npy array (no \\x93NUMPY magic)") }
        let major = data[data.startIndex + 6]
        let lengthBytes = major == 1 ? 2 : 4
        guard major >= 1, major <= 3, data.count >= 8 + lengthBytes else { throw bad("unsupported .npy version \(major)") }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(data[data.startIndex + 8 + i]) << (8 * i) }
        let headerStart = 8 + lengthBytes
        guard data.count >= headerStart + headerLength else { throw bad("truncated .npy header") }
        let header = String(decoding: data.subdata(in: (data.startIndex + headerStart)..<(data.startIndex + headerStart + headerLength)), as: UTF8.self)
        guard let descr = Self.field("descr", in: header) else { throw bad("the .npy header has no 'descr'") }
        guard descr == "'<f4'" else { throw bad("dtype \(descr) is not supported (expected little-endian float32 '<f4')") }
        guard Self.field("fortran_order", in: header) == "False" else { throw bad("Fortran-order arrays are not supported (expected C order)") }
        guard let shapeText = Self.field("shape", in: header) else { throw bad("the .npy header has no 'shape'") }
        let parts = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let dims = parts.compactMap { Int($0) }
        guard dims.count == parts.count, dims.allSatisfy({ $0 >= 0 }) else { throw bad("bad shape \(shapeText)") }
        let count = dims.reduce(1, *)
        let dataStart = headerStart + headerLength
        guard data.count - dataStart == count * 4 else {
            throw bad("truncated: shape \(dims) needs \(count * 4) data bytes, found \(data.count - dataStart)")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { out in
            _ = data.copyBytes(to: out, from: (data.startIndex + dataStart)..<data.endIndex)
        }
        #if _endian(big)
        values = values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        #endif
        shape = dims
        self.values = values
    }

    /// Reads a `.npy` file.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LanternError.badFile(path: path, field: "file", problem: "cannot read")
        }
        try self.init(bytes: data, path: path, name: "array")
    }

    /// The text of `'key': value` in the header dict (a tuple value kept whole).
    static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)':") else { return nil }
        let rest = header[keyRange.upperBound...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return String(rest[..<end]).trimmingCharacters(in: .whitespaces)
    }
}

/// NumPy's writer, for directions saved from Swift and for tests.
extension NPYArray {
    public func data() -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(Data(header.utf8))
        values.withUnsafeBytes { out.append(contentsOf: $0) }
        return out
    }
}
