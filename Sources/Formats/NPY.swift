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

    /// What a `.npy` header says, checked: shape, where the data starts, and the whole array's size.
    public struct Header: Sendable, Equatable {
        public let shape: [Int]
        public let dataStart: Int
        /// dataStart + 4 × elements: the exact size a well-formed array has.
        public let totalBytes: Int
    }

    /// The longest header read (numpy's own reader refuses more than 10 000 bytes by default).
    static let maxHeaderLength = 65_536

    /// Parses the header at the start of `data` (which may hold only a prefix of the array).
    /// Returns nil when `data` is too short to hold the whole header yet. Every size is checked:
    /// the shape's element count and the byte count cannot overflow.
    public static func header(_ data: Data, path: String, name: String) throws -> Header? {
        func bad(_ problem: String) -> LanternError { .badFile(path: path, field: name, problem: problem) }
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        let prefix = Array(data.prefix(12))
        guard prefix.count >= 10 else {
            if prefix.count < 6 ? prefix != Array(magic.prefix(prefix.count)) : Array(prefix.prefix(6)) != magic {
                throw bad("not a .npy array (no \\x93NUMPY magic)")
            }
            return nil
        }
        guard Array(prefix.prefix(6)) == magic else { throw bad("not a .npy array (no \\x93NUMPY magic)") }
        let major = prefix[6]
        guard major >= 1, major <= 3 else { throw bad("unsupported .npy version \(major)") }
        let lengthBytes = major == 1 ? 2 : 4
        guard prefix.count >= 8 + lengthBytes else { return nil }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(prefix[8 + i]) << (8 * i) }
        guard headerLength <= maxHeaderLength else { throw bad("the .npy header claims \(headerLength) bytes (at most \(maxHeaderLength))") }
        let headerStart = 8 + lengthBytes
        guard data.count >= headerStart + headerLength else { return nil }
        let header = String(decoding: data.subdata(in: (data.startIndex + headerStart)..<(data.startIndex + headerStart + headerLength)), as: UTF8.self)
        guard let descr = field("descr", in: header) else { throw bad("the .npy header has no 'descr'") }
        guard descr == "'<f4'" else { throw bad("dtype \(descr) is not supported (expected little-endian float32 '<f4')") }
        guard field("fortran_order", in: header) == "False" else { throw bad("Fortran-order arrays are not supported (expected C order)") }
        guard let shapeText = field("shape", in: header), shapeText.hasPrefix("(") else { throw bad("the .npy header has no 'shape' tuple") }
        let parts = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let dims = parts.compactMap { Int($0) }
        guard dims.count == parts.count, dims.count <= 8, dims.allSatisfy({ $0 >= 0 }) else { throw bad("bad shape \(shapeText)") }
        var count = 1
        for d in dims {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw bad("shape \(dims) has too many elements") }
            count = p
        }
        let dataStart = headerStart + headerLength
        let (bytes, overflow) = count.multipliedReportingOverflow(by: 4)
        guard !overflow, bytes <= Int.max - dataStart else { throw bad("shape \(dims) has too many elements") }
        return Header(shape: dims, dataStart: dataStart, totalBytes: dataStart + bytes)
    }

    /// Parses `.npy` bytes; `path` and `name` say where they came from in errors.
    public init(bytes data: Data, path: String, name: String) throws {
        func bad(_ problem: String) -> LanternError { .badFile(path: path, field: name, problem: problem) }
        guard let header = try Self.header(data, path: path, name: name) else { throw bad("truncated .npy header") }
        guard data.count == header.totalBytes else {
            throw bad("truncated: shape \(header.shape) needs \(header.totalBytes - header.dataStart) data bytes, found \(data.count - header.dataStart)")
        }
        var values = [Float](repeating: 0, count: (header.totalBytes - header.dataStart) / 4)
        values.withUnsafeMutableBytes { out in
            _ = data.copyBytes(to: out, from: (data.startIndex + header.dataStart)..<data.endIndex)
        }
        #if _endian(big)
        values = values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        #endif
        shape = header.shape
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
