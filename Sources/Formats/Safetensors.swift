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
    /// Tensor names in the order of their data in the file.
    public let tensorNames: [String]

    public var location: String { path }

    static let dtypes: [String: DType] = ["F32": .f32, "F16": .f16, "BF16": .bf16]

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
        let dataStart = 8 + Int(headerLength)
        let dataSize = file.count - dataStart
        let headerBytes = UnsafeRawBufferPointer(rebasing: file.bytes[8..<dataStart])
        guard let json = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw bad("header", "the \(headerLength)-byte header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var entries: [String: HostTensor] = [:]
        var order: [(Int, String)] = []
        for (name, value) in json {
            if name == "__metadata__" {
                for (k, v) in value as? [String: Any] ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            guard let info = value as? [String: Any] else { throw bad(name, "entry is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw bad("\(name).dtype", "missing") }
            guard let dtype = Self.dtypes[dtypeName] else {
                throw bad("\(name).dtype", "\(dtypeName) is not supported (expected F32, F16 or BF16)")
            }
            guard let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  shape.count == (info["shape"] as? [Any])?.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw bad("\(name).shape", "expected a list of non-negative integers")
            }
            guard let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2 else {
                throw bad("\(name).data_offsets", "expected [begin, end]")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw bad("\(name).data_offsets", "[\(begin), \(end)] is outside the \(dataSize) data bytes")
            }
            let elements = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
            guard let expected = dtype.byteCount(elements: elements), expected == end - begin else {
                throw bad("\(name).data_offsets", "\(end - begin) bytes, but \(dtypeName) \(shape) needs \(dtype.byteCount(elements: elements).map(String.init) ?? "too many")")
            }
            let bytes = UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + begin)..<(dataStart + end)])
            entries[name] = HostTensor(name: name, shape: shape, dtype: dtype, bytes: bytes, owner: file)
            order.append((begin, name))
        }
        self.metadata = metadata
        self.entries = entries
        tensorNames = order.sorted { $0 < $1 }.map(\.1)
    }

    public func has(_ name: String) -> Bool { entries[name] != nil }

    public func tensor(_ name: String) throws -> HostTensor {
        guard let t = entries[name] else {
            throw LanternError.badFile(path: path, field: name, problem: "tensor is missing")
        }
        return t
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
            guard let data = fm.contents(atPath: index),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw LanternError.badFile(path: index, field: "file", problem: "not a JSON object")
            }
            guard let map = json["weight_map"] as? [String: String] else {
                throw LanternError.badFile(path: index, field: "weight_map", problem: "missing or not an object of tensor → file")
            }
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

    public func tensor(_ name: String) throws -> HostTensor {
        guard let file = owner[name] else {
            throw LanternError.badFile(path: location, field: name, problem: "tensor is missing from the checkpoint")
        }
        return try file.tensor(name)
    }
}
