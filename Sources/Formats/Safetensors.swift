import Foundation
import LanternCore

/// A safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the data. Memory-mapped; every header claim is checked
/// against the file before any tensor is handed out.
public final class SafetensorsFile: WeightSource, @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    private let file: MappedFile
    private let entries: [String: HostTensor]
    /// I32 tensors (token ids a harvest stores), read with `int32s`; not weights.
    private let integerEntries: [String: (shape: [Int], bytes: UnsafeRawBufferPointer)]
    /// Tensor names in the order of their data in the file.
    public let tensorNames: [String]

    public var location: String { path }

    static let dtypes: [String: DType] = ["F32": .f32, "F16": .f16, "BF16": .bf16]
    /// Integer dtypes Lantern reads (not as weights): bytes per element.
    static let integerDTypes: [String: Int] = ["I32": 4]

    public init(path: String) throws {
        file = try MappedFile(path: path)
        self.path = path
        func bad(_ field: String, _ problem: String) -> LanternError {
            .badFile(path: path, field: field, problem: problem)
        }
        guard let headerLength = file.load(UInt64.self, at: 0) else {
            throw bad("header", "truncated: the file has \(file.count) bytes, fewer than the 8-byte header length")
        }
        guard headerLength <= UInt64(file.count - 8) else {
            throw bad("header", "header length \(headerLength) is longer than the \(file.count - 8) bytes after it")
        }
        // The reference implementation's limit: a header larger than this is not a real checkpoint.
        guard headerLength <= 100_000_000 else {
            throw bad("header", "header length \(headerLength) is over the 100 MB limit")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = file.count - dataStart
        let root: JSONValue
        do {
            root = try JSONReader.parse(Array(file.bytes[8..<dataStart]))
        } catch {
            throw bad("header", "the \(headerLength)-byte header is not a JSON object (\(error.message) at byte \(error.offset))")
        }
        guard let members = root.members else { throw bad("header", "the \(headerLength)-byte header is not a JSON object") }
        if let key = root.duplicateKey { throw bad(key, "appears twice in the header") }
        var metadata: [String: String] = [:]
        var entries: [String: HostTensor] = [:]
        var integerEntries: [String: (shape: [Int], bytes: UnsafeRawBufferPointer)] = [:]
        var order: [(begin: Int, end: Int, name: String)] = []
        for (name, info) in members {
            if name == "__metadata__" {
                guard let pairs = info.members else { throw bad(name, "expected an object of strings, got \(info.summary)") }
                for (k, v) in pairs {
                    guard let text = v.string else { throw bad("__metadata__.\(k)", "expected a string, got \(v.summary)") }
                    metadata[k] = text
                }
                continue
            }
            guard info.members != nil else { throw bad(name, "entry is not an object") }
            if let key = info.duplicateKey { throw bad("\(name).\(key)", "appears twice") }
            guard let dtypeValue = info["dtype"] else { throw bad("\(name).dtype", "missing") }
            guard let dtypeName = dtypeValue.string else { throw bad("\(name).dtype", "expected a string, got \(dtypeValue.summary)") }
            let dtype = Self.dtypes[dtypeName], integerWidth = Self.integerDTypes[dtypeName]
            guard dtype != nil || integerWidth != nil else {
                throw bad("\(name).dtype", "\(dtypeName) is not supported (expected F32, F16, BF16 or I32)")
            }
            guard let dims = info["shape"]?.array, dims.count <= 8 else {
                throw bad("\(name).shape", "expected a list of at most 8 non-negative integers")
            }
            var shape: [Int] = [], elements = 1
            for d in dims {
                // Exact integers only: 2.5, -1, 1e300 and 2^64 are refused, never truncated or wrapped.
                guard let n = d.int, n >= 0 else {
                    throw bad("\(name).shape", "expected non-negative integers, got \(d.summary)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow else { throw bad("\(name).shape", "the element count of \(dims.map(\.summary)) overflows") }
                shape.append(n)
                elements = product
            }
            guard let offsets = info["data_offsets"]?.array, offsets.count == 2,
                  let begin = offsets[0].int, let end = offsets[1].int else {
                let got = info["data_offsets"].map { $0.array.map { "[" + $0.map(\.summary).joined(separator: ", ") + "]" } ?? $0.summary } ?? "nothing"
                throw bad("\(name).data_offsets", "expected [begin, end] as two integers, got \(got)")
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw bad("\(name).data_offsets", "[\(begin), \(end)] is outside the \(dataSize) data bytes")
            }
            let needed = dtype.map { $0.byteCount(elements: elements) }
                ?? { let (n, o) = elements.multipliedReportingOverflow(by: integerWidth!); return o ? nil : n }()
            guard let expected = needed, expected == end - begin else {
                throw bad("\(name).data_offsets", "\(end - begin) bytes, but \(dtypeName) \(shape) needs \(needed.map(String.init) ?? "too many")")
            }
            let bytes = UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + begin)..<(dataStart + end)])
            if let dtype {
                entries[name] = HostTensor(name: name, shape: shape, dtype: dtype, bytes: bytes, owner: file)
            } else {
                integerEntries[name] = (shape, bytes)
            }
            order.append((begin, end, name))
        }
        order.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        // Tensors may not share bytes: a writer never overlaps them, so an overlap is a forged header.
        for (previous, next) in zip(order, order.dropFirst()) where next.begin < previous.end {
            throw bad("\(next.name).data_offsets", "[\(next.begin), \(next.end)] overlaps \(previous.name)'s [\(previous.begin), \(previous.end)]")
        }
        self.metadata = metadata
        self.entries = entries
        self.integerEntries = integerEntries
        tensorNames = order.map(\.name).filter { entries[$0] != nil }
    }

    public func has(_ name: String) -> Bool { entries[name] != nil }

    public func tensor(_ name: String) throws -> HostTensor {
        guard let t = entries[name] else {
            let problem = integerEntries[name] != nil ? "holds integers (I32), not a float tensor" : "tensor is missing"
            throw LanternError.badFile(path: path, field: name, problem: problem)
        }
        return t
    }

    /// An I32 tensor's values (a harvest's token ids).
    public func int32s(_ name: String) throws -> [Int32] {
        guard let t = integerEntries[name] else {
            let problem = entries[name] != nil ? "is a float tensor, not I32" : "tensor is missing"
            throw LanternError.badFile(path: path, field: name, problem: problem)
        }
        return (0..<(t.bytes.count / 4)).map { Int32(littleEndian: t.bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
    }
}

/// The safetensors of a model directory: `model.safetensors`, or the shards listed in
/// `model.safetensors.index.json`.
public final class Checkpoint: WeightSource, @unchecked Sendable {
    public let location: String
    private let files: [SafetensorsFile]
    private let owner: [String: SafetensorsFile]

    public init(directory: String) throws {
        location = directory
        let fm = FileManager.default
        let index = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        let single = (directory as NSString).appendingPathComponent("model.safetensors")
        if fm.fileExists(atPath: index) {
            let map = try Self.readIndex(index)
            var byName: [String: SafetensorsFile] = [:]
            for shard in Set(map.values).sorted() {
                byName[shard] = try SafetensorsFile(path: (directory as NSString).appendingPathComponent(shard))
            }
            var owner: [String: SafetensorsFile] = [:]
            for (tensor, shard) in map {
                guard let file = byName[shard], file.has(tensor) else {
                    throw LanternError.badFile(path: index, field: "weight_map.\(tensor)", problem: "says '\(shard)', which has no such tensor")
                }
                owner[tensor] = file
            }
            files = byName.keys.sorted().compactMap { byName[$0] }
            self.owner = owner
        } else if fm.fileExists(atPath: single) {
            let file = try SafetensorsFile(path: single)
            files = [file]
            owner = Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, file) })
        } else {
            throw LanternError.badFile(path: directory, field: "weights", problem: "no model.safetensors or model.safetensors.index.json")
        }
    }

    public var tensorNames: [String] { files.flatMap(\.tensorNames) }
    public func has(_ name: String) -> Bool { owner[name] != nil }

    /// `weight_map` of a shard index: tensor → shard file. Strict: an object of strings, no name
    /// twice, and every shard a plain relative path inside the directory (no `..`, no `/…`), so
    /// an index cannot make Lantern open files elsewhere.
    static func readIndex(_ index: String) throws -> [String: String] {
        func bad(_ field: String, _ problem: String) -> LanternError { .badFile(path: index, field: field, problem: problem) }
        guard let data = FileManager.default.contents(atPath: index) else { throw bad("file", "cannot read") }
        let root: JSONValue
        do {
            root = try JSONReader.parse([UInt8](data))
        } catch {
            throw bad("file", "not JSON (\(error.message) at byte \(error.offset))")
        }
        guard root.members != nil else { throw bad("file", "not a JSON object") }
        guard let members = root["weight_map"]?.members else {
            throw bad("weight_map", "missing or not an object of tensor → file")
        }
        if let key = root["weight_map"]?.duplicateKey { throw bad("weight_map.\(key)", "appears twice") }
        var map: [String: String] = [:]
        for (tensor, value) in members {
            guard let shard = value.string else { throw bad("weight_map.\(tensor)", "expected a file name, got \(value.summary)") }
            let parts = shard.split(separator: "/", omittingEmptySubsequences: false)
            guard !shard.isEmpty, !shard.hasPrefix("/"), !parts.contains(where: { $0 == ".." || $0.isEmpty }), !shard.contains("\0") else {
                throw bad("weight_map.\(tensor)", "'\(shard)' is not a file name inside the model directory")
            }
            map[tensor] = shard
        }
        return map
    }

    public func tensor(_ name: String) throws -> HostTensor {
        guard let file = owner[name] else {
            throw LanternError.badFile(path: location, field: name, problem: "tensor is missing from the checkpoint")
        }
        return try file.tensor(name)
    }
}
