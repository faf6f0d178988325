import LanternCore

/// One tensor as a GGUF file describes it.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Dimensions innermost-first, as stored (`ne`).
    public let ne: [Int]
    public let dtype: DType
    /// Offset of the data from the start of the data section.
    public let offset: Int
    public let byteCount: Int

    /// Row-major shape, outermost first (numpy's and Hugging Face's order: [out, in] for weights).
    public var shape: [Int] { ne.reversed() }
    public var count: Int { ne.reduce(1, *) }
}

/// A GGUF file (versions 2 and 3): magic "GGUF", version, tensor and metadata counts, metadata
/// key/value pairs, tensor infos, then the tensor data at `general.alignment` (default 32).
/// Memory-mapped; every count, length and offset is checked against the file before use.
///
/// As a `WeightSource` it serves tensors under their GGUF names with row-major shapes;
/// `GGUFWeights` (Models) maps those to the Hugging Face names the transformer asks for.
public final class GGUFFile: WeightSource, @unchecked Sendable {
    public let path: String
    public let version: Int
    public let alignment: Int
    /// Where the tensor data starts in the file.
    public let dataOffset: Int
    /// Metadata in file order, and by key.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    private let byName: [String: Int]
    private let file: MappedFile

    public var location: String { path }
    public var tensorNames: [String] { tensors.map(\.name) }

    /// ggml's type codes for the dtypes Lantern reads.
    static let dtypeCodes: [UInt32: DType] = [
        0: .f32, 1: .f16, 2: .q4_0, 3: .q4_1, 6: .q5_0, 7: .q5_1, 8: .q8_0,
        12: .q4_K, 13: .q5_K, 14: .q6_K, 30: .bf16,
    ]
    /// Names of the ggml types Lantern does not read, for error messages.
    static let otherTypeNames: [UInt32: String] = [
        9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
        19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16",
        26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
    ]
    static let maxDims = 4

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var c = GGUFCursor(file: file)

        c.field = "magic"
        let magic = try c.read(UInt32.self)
        guard magic == 0x4655_4747 else {  // "GGUF" little-endian
            throw c.bad("not a GGUF file (the first 4 bytes are not \"GGUF\")")
        }
        c.field = "version"
        let version = try c.read(UInt32.self)
        guard version == 2 || version == 3 else {
            let hint = version.byteSwapped <= 3 ? " (a big-endian file?)" : ""
            throw c.bad("version \(version) is not supported (2 or 3)\(hint)")
        }
        self.version = Int(version)
        c.field = "tensor_count"
        // Each tensor info takes at least 8 (name) + 4 + 8 + 4 + 8 bytes.
        let tensorCount = try c.readCount(of: "tensor count", minimumSize: 32)
        c.field = "kv_count"
        // Each pair takes at least 8 (key) + 4 (type) + 1 bytes.
        let kvCount = try c.readCount(of: "metadata count", minimumSize: 13)

        var keys: [String] = [], metadata: [String: GGUFValue] = [:]
        for i in 0..<kvCount {
            c.field = "kv[\(i)].key"
            let key = try c.readString()
            c.field = "kv[\(i)] \(key)"
            guard metadata[key] == nil else { throw c.bad("duplicate key") }
            metadata[key] = try c.readValue(try c.readType())
            keys.append(key)
        }
        metadataKeys = keys
        self.metadata = metadata

        c.field = "general.alignment"
        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0 else {
                throw c.bad("\(a) is not a positive power of two")
            }
            alignment = v
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = [], byName: [String: Int] = [:]
        infos.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            c.field = "tensor[\(i)].name"
            let name = try c.readString()
            c.field = "tensor[\(i)] \(name)"
            guard byName[name] == nil else { throw c.bad("duplicate tensor name") }
            let dims = Int(try c.read(UInt32.self))
            guard dims >= 1, dims <= Self.maxDims else { throw c.bad("\(dims) dimensions (expected 1...\(Self.maxDims))") }
            var ne: [Int] = [], count = 1
            for _ in 0..<dims {
                let d = try c.read(UInt64.self)
                guard d <= UInt64(Int32.max) else { throw c.bad("dimension \(d) is too large") }
                ne.append(Int(d))
                let (p, overflow) = count.multipliedReportingOverflow(by: Int(d))
                guard !overflow else { throw c.bad("element count of \(ne) overflows") }
                count = p
            }
            let code = try c.read(UInt32.self)
            guard let dtype = Self.dtypeCodes[code] else {
                let name = Self.otherTypeNames[code].map { "\($0) (type \(code))" } ?? "unknown type \(code)"
                throw c.bad("\(name) is not supported (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)")
            }
            guard ne[0] % dtype.blockSize == 0, let bytes = dtype.byteCount(elements: count) else {
                throw c.bad("row length \(ne[0]) is not a multiple of the \(dtype) block size \(dtype.blockSize)")
            }
            let offset = try c.read(UInt64.self)
            guard offset % UInt64(alignment) == 0 else { throw c.bad("data offset \(offset) is not a multiple of the alignment \(alignment)") }
            guard offset <= UInt64(file.count) else { throw c.bad("data offset \(offset) is past the end of the file") }
            byName[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, ne: ne, dtype: dtype, offset: Int(offset), byteCount: bytes))
        }

        c.field = "tensor data"
        let start = (c.offset + alignment - 1) / alignment * alignment
        dataOffset = start
        let dataSize = file.count - start
        for (i, t) in infos.enumerated() {
            // offset ≤ file size was checked when read, so offset + byteCount below cannot overflow.
            guard dataSize >= 0, t.offset <= dataSize, t.byteCount <= dataSize - t.offset else {
                let end = t.offset.addingReportingOverflow(t.byteCount)
                throw LanternError.badFile(path: path, field: "tensor[\(i)] \(t.name)",
                                           problem: "data [\(t.offset), \(end.overflow ? "overflow" : String(end.partialValue))) lies outside the \(max(dataSize, 0)) data bytes (truncated file?)")
            }
        }
        // Tensors may not share bytes: llama.cpp's writer never overlaps them, so an overlap is a forged table.
        let byStart = infos.indices.sorted { (infos[$0].offset, infos[$0].byteCount) < (infos[$1].offset, infos[$1].byteCount) }
        for (a, b) in zip(byStart, byStart.dropFirst()) where infos[b].offset < infos[a].offset + infos[a].byteCount {
            throw LanternError.badFile(path: path, field: "tensor[\(b)] \(infos[b].name)",
                                       problem: "data at offset \(infos[b].offset) overlaps tensor \(infos[a].name) [\(infos[a].offset), \(infos[a].offset + infos[a].byteCount))")
        }
        tensors = infos
        self.byName = byName
    }

    public func has(_ name: String) -> Bool { byName[name] != nil }

    public func info(_ name: String) -> GGUFTensorInfo? { byName[name].map { tensors[$0] } }

    /// The tensor `name` (a GGUF name) with its row-major shape, aliasing the mapped file.
    public func tensor(_ name: String) throws -> HostTensor {
        guard let t = info(name) else {
            throw LanternError.badFile(path: path, field: name, problem: "tensor is missing")
        }
        let begin = dataOffset + t.offset
        return HostTensor(name: name, shape: t.shape, dtype: t.dtype,
                          bytes: UnsafeRawBufferPointer(rebasing: file.bytes[begin..<(begin + t.byteCount)]), owner: file)
    }

    // MARK: Typed metadata access (errors name the file and key)

    public subscript(key: String) -> GGUFValue? { metadata[key] }

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw LanternError.badFile(path: path, field: key, problem: "missing") }
        guard let s = v.string else { throw LanternError.badFile(path: path, field: key, problem: "expected a string") }
        return s
    }

    public func int(_ key: String) throws -> Int {
        guard let v = try optionalInt(key) else { throw LanternError.badFile(path: path, field: key, problem: "missing") }
        return v
    }

    public func optionalInt(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.int else { throw LanternError.badFile(path: path, field: key, problem: "expected an integer") }
        return i
    }

    public func optionalFloat(_ key: String) throws -> Float? {
        guard let v = metadata[key] else { return nil }
        guard let f = v.float else { throw LanternError.badFile(path: path, field: key, problem: "expected a number") }
        return f
    }
}
