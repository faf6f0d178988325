import Foundation
import XCTest
@testable import Formats
import LanternCore

/// One test per crash class found in the file formats: each builds a small malformed file
/// and checks the one-line error names the file and the field (before the fix these trapped,
/// overflowed the stack or were silently accepted).
final class MalformedFormatFileTests: XCTestCase {
    let dir = NSTemporaryDirectory() + "lantern-malformed-\(getpid())"

    override func setUpWithError() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = dir + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func expectError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("accepted", file: file, line: line)
        } catch {
            let text = "\(error)"
            XCTAssertTrue(error is LanternError, "not a LanternError: \(text)", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", file: file, line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(text)' lacks '\(f)'", file: file, line: line) }
        }
    }

    // MARK: safetensors

    func safetensors(_ header: String, data: Int = 16) -> [UInt8] {
        GGUFBuilder.u64(UInt64(header.utf8.count)) + Array(header.utf8) + [UInt8](repeating: 0, count: data)
    }

    func testSafetensorsOffsetsPast2To64AreRefusedNotWrapped() throws {
        let path = try write("wrap.safetensors", safetensors(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[18446744073709551616,18446744073709551632]}}"#))
        expectError(["wrap.safetensors", "a.data_offsets", "[begin, end]"]) { _ = try SafetensorsFile(path: path) }
        let shape = try write("shape.safetensors", safetensors(#"{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,16]}}"#))
        expectError(["shape.safetensors", "a.shape", "non-negative integers"]) { _ = try SafetensorsFile(path: shape) }
        let product = try write("product.safetensors", safetensors(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}}"#))
        expectError(["product.safetensors", "a.shape", "overflows"]) { _ = try SafetensorsFile(path: product) }
    }

    func testSafetensorsFractionalAndNegativeNumbersAreRefused() throws {
        let shape = try write("frac.safetensors", safetensors(#"{"a":{"dtype":"F32","shape":[4.5],"data_offsets":[0,16]}}"#))
        expectError(["frac.safetensors", "a.shape", "4.5"]) { _ = try SafetensorsFile(path: shape) }
        let offsets = try write("fracoff.safetensors", safetensors(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0.5,16]}}"#))
        expectError(["fracoff.safetensors", "a.data_offsets"]) { _ = try SafetensorsFile(path: offsets) }
        let dtype = try write("dtype.safetensors", safetensors(#"{"a":{"dtype":7,"shape":[4],"data_offsets":[0,16]}}"#))
        expectError(["dtype.safetensors", "a.dtype", "expected a string"]) { _ = try SafetensorsFile(path: dtype) }
    }

    func testSafetensorsOverlapsAndDuplicateKeysAreRefused() throws {
        let overlap = try write("overlap.safetensors", safetensors(
            #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#))
        expectError(["overlap.safetensors", "b.data_offsets", "overlaps a"]) { _ = try SafetensorsFile(path: overlap) }
        let duplicate = try write("dup.safetensors", safetensors(
            #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#))
        expectError(["dup.safetensors", "a: appears twice"]) { _ = try SafetensorsFile(path: duplicate) }
    }

    func testShardIndexCannotLeaveTheDirectory() throws {
        for (name, shard) in [("dotdot", "../../etc/passwd"), ("absolute", "/etc/passwd"), ("inner", "a/../../x.safetensors")] {
            let index = #"{"weight_map":{"model.norm.weight":"\#(shard)"}}"#
            _ = try write("\(name)/model.safetensors.index.json", Array(index.utf8))
            expectError(["model.safetensors.index.json", "weight_map.model.norm.weight", "not a file name inside the model directory"]) {
                _ = try Checkpoint(directory: dir + "/" + name)
            }
        }
        _ = try write("types/model.safetensors.index.json", Array(#"{"weight_map":{"a":5}}"#.utf8))
        expectError(["model.safetensors.index.json", "weight_map.a", "expected a file name"]) { _ = try Checkpoint(directory: dir + "/types") }
    }

    // MARK: GGUF

    func testGGUFArraysNested100000DeepAreRefusedWithoutRecursing() throws {
        let level = GGUFBuilder.u32(9) + GGUFBuilder.u64(1)  // an array holding one array
        let value = Array([[UInt8]](repeating: level, count: 99_999).joined()) + GGUFBuilder.u32(0) + GGUFBuilder.u64(0)
        var b = GGUFBuilder()
        b.add("deep", type: 9, value)
        let path = try b.write("deep.gguf")
        expectError(["deep.gguf", "kv[0] deep", "nested more than 8 deep"]) { _ = try GGUFFile(path: path) }
    }

    func testGGUFDimensionProductOverflowIsRefused() throws {
        var b = GGUFBuilder()
        b.tensors = [(name: "t", ne: [2_147_483_647, 2_147_483_647, 2_147_483_647, 2_147_483_647], type: 0, data: [])]
        let path = try b.write("dims.gguf")
        expectError(["dims.gguf", "tensor[0] t", "overflows"]) { _ = try GGUFFile(path: path) }
    }

    func testGGUFOverlappingTensorsAreRefused() throws {
        var b = GGUFBuilder()
        let data = [UInt8](repeating: 0, count: 64)
        b.tensors = [(name: "a", ne: [16], type: 0, data: data), (name: "b", ne: [16], type: 0, data: data)]
        b.offsetOverride = [1: 32]  // b starts inside a's 64 bytes
        let path = try b.write("overlap.gguf")
        expectError(["overlap.gguf", "tensor[1] b", "overlaps tensor a"]) { _ = try GGUFFile(path: path) }
    }

    func testGGUFHugeCountsAreRefusedBeforeAllocating() throws {
        var b = GGUFBuilder()
        b.add("a", type: 9, GGUFBuilder.u32(0) + GGUFBuilder.u64(1 << 60))
        let path = try b.write("count.gguf")
        expectError(["count.gguf", "kv[0] a", "array length 1152921504606846976 runs past the end"]) { _ = try GGUFFile(path: path) }
        var t = GGUFBuilder()
        t.tensorCountOverride = 1 << 40
        let tensors = try t.write("tensors.gguf")
        expectError(["tensors.gguf", "tensor_count"]) { _ = try GGUFFile(path: tensors) }
    }

    // MARK: JSON

    func testJSONRefusesNonFiniteNumbersAndDeepNesting() {
        XCTAssertThrowsError(try JSONReader.parse(Array("[1e999]".utf8)))
        XCTAssertThrowsError(try JSONReader.parse([UInt8](repeating: UInt8(ascii: "["), count: 100_000)))
        XCTAssertEqual(try JSONReader.parse(Array(#"{"a":1,"a":2}"#.utf8)).duplicateKey, "a")
    }
}
