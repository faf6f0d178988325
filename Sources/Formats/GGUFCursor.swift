import LanternCore

/// Reads GGUF's little-endian fields one after another, refusing to step past the end of the
/// file. Every failure names the file and the field being read.
struct GGUFCursor {
    let file: MappedFile
    var offset = 0
    /// The field being read, for error messages ("kv[3] tokenizer.ggml.tokens", "tensor[7].ne").
    var field = "header"

    init(file: MappedFile) { self.file = file }

    var remaining: Int { file.count - offset }

    func bad(_ problem: String) -> LanternError {
        .badFile(path: file.path, field: field, problem: problem)
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        guard let v = file.load(T.self, at: offset) else {
            throw bad("truncated: needs \(MemoryLayout<T>.size) bytes at offset \(offset), the file has \(file.count)")
        }
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// A count or length (u64), checked to leave room for `count × minimumSize` more bytes.
    mutating func readCount(of what: String, minimumSize: Int) throws -> Int {
        let n = try read(UInt64.self)
        guard n <= UInt64(remaining / max(minimumSize, 1)) else {
            throw bad("\(what) \(n) runs past the end of the file (\(remaining) bytes left at offset \(offset))")
        }
        return Int(n)
    }

    mutating func readString() throws -> String {
        let n = try readCount(of: "string length", minimumSize: 1)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + n)]), as: UTF8.self)
        offset += n
        return s
    }

    mutating func readType() throws -> GGUFValueType {
        let code = try read(UInt32.self)
        guard let t = GGUFValueType(rawValue: code) else { throw bad("unknown value type \(code)") }
        return t
    }

    mutating func readValue(_ type: GGUFValueType) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self))
        case .int8: return .int8(try read(Int8.self))
        case .uint16: return .uint16(try read(UInt16.self))
        case .int16: return .int16(try read(Int16.self))
        case .uint32: return .uint32(try read(UInt32.self))
        case .int32: return .int32(try read(Int32.self))
        case .uint64: return .uint64(try read(UInt64.self))
        case .int64: return .int64(try read(Int64.self))
        case .float32: return .float32(try readFloat())
        case .float64: return .float64(try readDouble())
        case .bool:
            let b = try read(UInt8.self)
            guard b <= 1 else { throw bad("bool value \(b) is neither 0 nor 1") }
            return .bool(b == 1)
        case .string: return .string(try readString())
        case .array: return .array(try readArray(depth: 1))
        }
    }

    /// Arrays of arrays nest at most this deep: ggml itself reads none, and each level would be a
    /// stack frame here (a 100 000-deep file must be refused, not overflow the stack).
    static let maxArrayDepth = 8

    mutating func readArray(depth: Int) throws -> GGUFArray {
        guard depth <= Self.maxArrayDepth else { throw bad("arrays nested more than \(Self.maxArrayDepth) deep") }
        let type = try readType()
        let n = try readCount(of: "array length", minimumSize: type.minimumSize)
        switch type {
        case .string:
            var v: [String] = []
            v.reserveCapacity(n)
            for _ in 0..<n { v.append(try readString()) }
            return .strings(v)
        case .float32: return .float32(try (0..<n).map { _ in try readFloat() })
        case .float64: return .float64(try (0..<n).map { _ in try readDouble() })
        case .bool: return .bools(try (0..<n).map { _ in try readValue(.bool).bool! })
        case .array: return .arrays(try (0..<n).map { _ in try readArray(depth: depth + 1) })
        case .uint64:
            return .integers(try (0..<n).map { _ in
                let v = try read(UInt64.self)
                guard let i = Int(exactly: v) else { throw bad("array element \(v) does not fit in Int64") }
                return i
            }, type: type)
        default:
            return .integers(try (0..<n).map { _ in try readValue(type).int! }, type: type)
        }
    }
}
