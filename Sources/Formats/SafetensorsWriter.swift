import Foundation
import LanternCore

/// Writes float32 (or float16) tensors as a safetensors file that `safetensors.numpy.load_file` reads.
public struct SafetensorsWriter {
    public struct Entry {
        public let name: String
        public let shape: [Int]
        public let values: [Float]
        /// `.f32` or `.f16` (values rounded to nearest when stored).
        public let dtype: DType
        /// Integers instead (stored as I32; `values` is empty).
        public let integers: [Int32]?
        public init(name: String, shape: [Int], values: [Float], dtype: DType = .f32) {
            self.name = name
            self.shape = shape
            self.values = values
            self.dtype = dtype
            integers = nil
        }

        /// An I32 tensor (token ids).
        public init(name: String, shape: [Int], integers: [Int32]) {
            self.name = name
            self.shape = shape
            values = []
            dtype = .f32
            self.integers = integers
        }

        var count: Int { integers?.count ?? values.count }
        var byteCount: Int { integers != nil ? count * 4 : values.count * (dtype == .f16 ? 2 : 4) }
        var dtypeName: String { integers != nil ? "I32" : dtype == .f16 ? "F16" : "F32" }
    }

    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for e in entries {
            guard e.shape.reduce(1, *) == e.count else {
                throw LanternError.shapeMismatch(op: "safetensors write", detail: "'\(e.name)' has \(e.count) values for shape \(e.shape)")
            }
            guard e.dtype == .f32 || e.dtype == .f16 else {
                throw LanternError.unsupported("safetensors write of '\(e.name)' as \(e.dtype) (F32 or F16 only)")
            }
            header[e.name] = ["dtype": e.dtypeName, "shape": e.shape, "data_offsets": [offset, offset + e.byteCount]]
            offset += e.byteCount
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries {
            if let integers = e.integers {
                integers.map(\.littleEndian).withUnsafeBytes { out.append(contentsOf: $0) }
            } else if e.dtype == .f16 {
                e.values.map { Float16($0) }.withUnsafeBytes { out.append(contentsOf: $0) }
            } else {
                e.values.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        }
        guard FileManager.default.createFile(atPath: path, contents: out) else {
            throw LanternError.badFile(path: path, field: "file", problem: "cannot write")
        }
    }
}
