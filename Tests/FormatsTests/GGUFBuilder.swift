import Foundation

/// Writes small GGUF files byte by byte, so tests can make valid ones and break them on purpose.
struct GGUFBuilder {
    var version: UInt32 = 3
    var alignment = 32
    var kv: [(String, [UInt8])] = []
    var tensors: [(name: String, ne: [UInt64], type: UInt32, data: [UInt8])] = []
    /// Overrides for the counts and offsets in the header (to fake corrupt files).
    var tensorCountOverride: UInt64?
    var kvCountOverride: UInt64?
    var offsetOverride: [Int: UInt64] = [:]

    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func str(_ s: String) -> [UInt8] { u64(UInt64(s.utf8.count)) + Array(s.utf8) }

    mutating func add(_ key: String, type: UInt32, _ payload: [UInt8]) { kv.append((key, Self.u32(type) + payload)) }
    mutating func add(_ key: String, string: String) { add(key, type: 8, Self.str(string)) }
    mutating func add(_ key: String, uint32: UInt32) { add(key, type: 4, Self.u32(uint32)) }
    mutating func add(_ key: String, float32: Float) { add(key, type: 6, Self.u32(float32.bitPattern)) }
    mutating func add(_ key: String, strings: [String]) {
        add(key, type: 9, Self.u32(8) + Self.u64(UInt64(strings.count)) + strings.flatMap(Self.str))
    }

    func bytes() -> [UInt8] {
        var out = Array("GGUF".utf8) + Self.u32(version)
        out += Self.u64(tensorCountOverride ?? UInt64(tensors.count))
        out += Self.u64(kvCountOverride ?? UInt64(kv.count))
        for (key, value) in kv { out += Self.str(key) + value }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset = (offset + t.data.count + alignment - 1) / alignment * alignment
        }
        for (i, t) in tensors.enumerated() {
            out += Self.str(t.name) + Self.u32(UInt32(t.ne.count)) + t.ne.flatMap(Self.u64) + Self.u32(t.type)
            out += Self.u64(offsetOverride[i] ?? UInt64(offsets[i]))
        }
        while out.count % alignment != 0 { out.append(0) }
        let dataStart = out.count
        for (i, t) in tensors.enumerated() {
            while out.count - dataStart < offsets[i] { out.append(0) }
            out += t.data
        }
        return out
    }

    func write(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lantern-gguf-tests-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try Data(bytes()).write(to: URL(fileURLWithPath: path))
        return path
    }
}
