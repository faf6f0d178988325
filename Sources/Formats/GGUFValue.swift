/// The value types of GGUF metadata (`gguf_type` in ggml), with their on-disk codes.
public enum GGUFValueType: UInt32, Sendable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one element on disk (strings and arrays: the smallest possible, their length field).
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }

    /// ggml's name for the type ("UINT32", "STRING", ...).
    public var description: String {
        ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
         "UINT64", "INT64", "FLOAT64"][Int(rawValue)]
    }
}

/// One metadata value. Arrays keep their element type; integers of every width are read back
/// through `int`, floats through `double`.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFArray)

    /// Any integer value that fits in Int.
    public var int: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }

    /// A float value, or an integer one widened.
    public var double: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: int.map(Double.init)
        }
    }

    public var float: Float? { double.map(Float.init) }

    public var string: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    public var array: GGUFArray? {
        if case let .array(a) = self { return a }
        return nil
    }

    /// `tokenizer.ggml.tokens`, `tokenizer.ggml.merges`, ...
    public var strings: [String]? {
        if case let .array(.strings(s)) = self { return s }
        return nil
    }

    /// `tokenizer.ggml.scores`, ... (float32 or float64 arrays).
    public var floats: [Float]? {
        switch self {
        case let .array(.float32(v)): v
        case let .array(.float64(v)): v.map(Float.init)
        default: nil
        }
    }

    /// `tokenizer.ggml.token_type`, ... (any integer array whose values fit in Int).
    public var ints: [Int]? {
        if case let .array(.integers(v, _)) = self { return v }
        return nil
    }
}

/// A GGUF array, stored by element kind so that 262 144 token strings or scores stay compact.
public indirect enum GGUFArray: Sendable, Equatable {
    case strings([String])
    /// Every integer element type; `type` says which it was.
    case integers([Int], type: GGUFValueType)
    case float32([Float])
    case float64([Double])
    case bools([Bool])
    case arrays([GGUFArray])

    public var count: Int {
        switch self {
        case let .strings(v): v.count
        case let .integers(v, _): v.count
        case let .float32(v): v.count
        case let .float64(v): v.count
        case let .bools(v): v.count
        case let .arrays(v): v.count
        }
    }
}
