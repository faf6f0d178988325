import Foundation
import XCTest
@testable import Formats
import LanternCore

final class SafetensorsTests: XCTestCase {
    var dir: String = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "lantern-st-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func path(_ name: String) -> String { dir + "/" + name }

    /// A raw safetensors file from a header object and data bytes.
    func writeRaw(_ name: String, header: Any, data: [UInt8], lieAboutLength: UInt64? = nil) throws -> String {
        let json = try JSONSerialization.data(withJSONObject: header)
        var bytes = Data()
        withUnsafeBytes(of: (lieAboutLength ?? UInt64(json.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(json)
        bytes.append(contentsOf: data)
        _ = FileManager.default.createFile(atPath: path(name), contents: bytes)
        return path(name)
    }

    func assertBadFile(_ body: @autoclosure () throws -> Any, field: String, contains text: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case let .badFile(_, f, problem) = error as? LanternError else {
                return XCTFail("expected badFile, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(f, field, file: file, line: line)
            XCTAssertTrue(problem.contains(text), "'\(problem)' lacks '\(text)'", file: file, line: line)
            XCTAssertFalse("\(error)".contains("\n"), "error should be one line", file: file, line: line)
        }
    }

    func testRoundTrip() throws {
        let p = path("a.safetensors")
        try SafetensorsWriter.write([.init(name: "x", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                                     .init(name: "y", shape: [1], values: [7])], metadata: ["k": "v"], to: p)
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(f.tensorNames, ["x", "y"])
        XCTAssertEqual(f.metadata["k"], "v")
        XCTAssertEqual(try f.tensor("x").floats(), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try f.tensor("x").shape, [2, 3])
        XCTAssertEqual(try f.tensor("y").floats(), [7])
    }

    /// Token ids are stored as I32 (a harvest's `tokens`), read back exactly (ids ≥ 2^24 too, which
    /// f32 could not hold), kept apart from the float tensors, and checked by numpy's reader.
    func testInt32TensorsRoundTrip() throws {
        let p = path("ids.safetensors")
        let ids: [Int32] = [2, 651, 262_143, 16_777_217, -1]
        try SafetensorsWriter.write([.init(name: "x", shape: [1], values: [0.5]), .init(name: "tokens", shape: [5], integers: ids)], to: p)
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(try f.int32s("tokens"), ids)
        XCTAssertEqual(f.tensorNames, ["x"], "integer tensors are not weights")
        assertBadFile(try f.tensor("tokens"), field: "tokens", contains: "I32")
        assertBadFile(try f.int32s("x"), field: "x", contains: "float")
        let numpy = Process()
        numpy.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        numpy.arguments = ["python3", "-c", "import sys, numpy as np, json, struct; b = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n]); t = h['tokens']; s, e = t['data_offsets']; print(t['dtype'], np.frombuffer(b[8+n+s:8+n+e], '<i4').tolist())", p]
        let pipe = Pipe()
        numpy.standardOutput = pipe
        try numpy.run()
        numpy.waitUntilExit()
        let printed = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(printed.trimmingCharacters(in: .whitespacesAndNewlines), "I32 [2, 651, 262143, 16777217, -1]")
    }

    func testBF16AndF16AreWidened() throws {
        let bf16: [UInt16] = [0x3F80, 0xC000]  // 1, -2
        let f16: [UInt16] = [0x3C00, 0x4000]   // 1, 2
        let data = (bf16 + f16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let p = try writeRaw("h.safetensors", header: ["a": ["dtype": "BF16", "shape": [2], "data_offsets": [0, 4]],
                                                      "b": ["dtype": "F16", "shape": [2], "data_offsets": [4, 8]]], data: data)
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(try f.tensor("a").floats(), [1, -2])
        XCTAssertEqual(try f.tensor("b").floats(), [1, 2])
    }

    func testTruncatedFile() throws {
        _ = FileManager.default.createFile(atPath: path("t.safetensors"), contents: Data([1, 2, 3]))
        assertBadFile(try SafetensorsFile(path: path("t.safetensors")), field: "header", contains: "truncated")
    }

    func testHeaderLongerThanFile() throws {
        let p = try writeRaw("l.safetensors", header: [String: Any](), data: [], lieAboutLength: 1_000_000)
        assertBadFile(try SafetensorsFile(path: p), field: "header", contains: "longer than")
    }

    func testHeaderNotJSON() throws {
        var bytes = Data()
        withUnsafeBytes(of: UInt64(4).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array("{{{{".utf8))
        _ = FileManager.default.createFile(atPath: path("j.safetensors"), contents: bytes)
        assertBadFile(try SafetensorsFile(path: path("j.safetensors")), field: "header", contains: "not a JSON object")
    }

    func testOffsetsOutOfRange() throws {
        let p = try writeRaw("o.safetensors", header: ["w": ["dtype": "F32", "shape": [4], "data_offsets": [0, 16]]], data: [0, 0, 0, 0])
        assertBadFile(try SafetensorsFile(path: p), field: "w.data_offsets", contains: "outside")
    }

    func testByteCountContradictsShape() throws {
        let p = try writeRaw("c.safetensors", header: ["w": ["dtype": "F32", "shape": [3], "data_offsets": [0, 8]]], data: Array(repeating: 0, count: 8))
        assertBadFile(try SafetensorsFile(path: p), field: "w.data_offsets", contains: "needs 12")
    }

    func testUnknownDtype() throws {
        let p = try writeRaw("d.safetensors", header: ["w": ["dtype": "I64", "shape": [1], "data_offsets": [0, 8]]], data: Array(repeating: 0, count: 8))
        assertBadFile(try SafetensorsFile(path: p), field: "w.dtype", contains: "I64 is not supported")
    }

    func testMissingTensor() throws {
        let p = path("model.safetensors")
        try SafetensorsWriter.write([.init(name: "x", shape: [1], values: [1])], to: p)
        let checkpoint = try Checkpoint(directory: dir)
        assertBadFile(try checkpoint.tensor("model.norm.weight"), field: "model.norm.weight", contains: "missing")
    }

    func testShardedCheckpoint() throws {
        try SafetensorsWriter.write([.init(name: "a", shape: [1], values: [1])], to: path("s1.safetensors"))
        try SafetensorsWriter.write([.init(name: "b", shape: [2], values: [2, 3])], to: path("s2.safetensors"))
        let index = ["weight_map": ["a": "s1.safetensors", "b": "s2.safetensors"]]
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: path("model.safetensors.index.json")))
        let checkpoint = try Checkpoint(directory: dir)
        XCTAssertEqual(try checkpoint.tensor("b").floats(), [2, 3])
        XCTAssertEqual(Set(checkpoint.tensorNames), ["a", "b"])

        let lying = ["weight_map": ["a": "s2.safetensors"]]
        try JSONSerialization.data(withJSONObject: lying).write(to: URL(fileURLWithPath: path("model.safetensors.index.json")))
        assertBadFile(try Checkpoint(directory: dir), field: "weight_map.a", contains: "no such tensor")
    }

    func testEmptyDirectory() throws {
        assertBadFile(try Checkpoint(directory: dir), field: "weights", contains: "no model.safetensors")
    }
}
