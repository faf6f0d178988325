import Formats
import Foundation
import LanternCore
import XCTest

final class GGUFReaderTests: XCTestCase {
    /// A valid file: metadata of several types, an f32 tensor and a q8_0 one (which ends the file).
    func sample() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", string: "llama")
        b.add("llama.block_count", uint32: 2)
        b.add("llama.rope.freq_base", float32: 10_000)
        b.add("tokenizer.ggml.tokens", strings: ["<s>", "é", "▁hello", ""])
        b.add("tokenizer.ggml.scores", type: 9, GGUFBuilder.u32(6) + GGUFBuilder.u64(2) + GGUFBuilder.u32(Float(-1.5).bitPattern) + GGUFBuilder.u32(Float(2).bitPattern))
        b.add("tokenizer.ggml.token_type", type: 9, GGUFBuilder.u32(5) + GGUFBuilder.u64(3) + [1, 0, 0, 0, 3, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF])
        b.add("some.bool", type: 7, [1])
        b.add("some.int64", type: 11, GGUFBuilder.u64(UInt64(bitPattern: -5)))
        b.add("some.float64", type: 12, GGUFBuilder.u64(Double(0.25).bitPattern))
        b.add("some.uint8", type: 0, [200])
        b.add("some.int16", type: 3, [0xFE, 0xFF])
        let f32 = [Float](arrayLiteral: 1, 2, 3, 4, 5, 6).flatMap { GGUFBuilder.u32($0.bitPattern) }
        b.tensors.append((name: "a.weight", ne: [3, 2], type: 0, data: f32))
        // One Q8_0 block: d = 0.5, q = 0, 1, ..., 31.
        let q8 = GGUFBuilder.u32(UInt32(Float16(0.5).bitPattern)).prefix(2) + (0..<32).map { UInt8($0) }
        b.tensors.append((name: "b.weight", ne: [32, 1], type: 8, data: Array(q8)))
        return b
    }

    func testReadsMetadataAndTensors() throws {
        let path = try sample().write("ok.gguf")
        let g = try GGUFFile(path: path)
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(try g.string("general.architecture"), "llama")
        XCTAssertEqual(try g.int("llama.block_count"), 2)
        XCTAssertEqual(try g.optionalFloat("llama.rope.freq_base"), 10_000)
        XCTAssertEqual(g["tokenizer.ggml.tokens"]?.strings, ["<s>", "é", "▁hello", ""])
        XCTAssertEqual(g["tokenizer.ggml.scores"]?.floats, [-1.5, 2])
        XCTAssertEqual(g["tokenizer.ggml.token_type"]?.ints, [1, 3, -1])
        XCTAssertEqual(g["some.bool"]?.bool, true)
        XCTAssertEqual(g["some.int64"]?.int, -5)
        XCTAssertEqual(g["some.float64"]?.double, 0.25)
        XCTAssertEqual(g["some.uint8"]?.int, 200)
        XCTAssertEqual(g["some.int16"]?.int, -2)
        XCTAssertEqual(g["tokenizer.ggml.token_type"]?.array, .integers([1, 3, -1], type: .int32))
        XCTAssertEqual("\(GGUFValueType.int32) \(GGUFValueType.float64)", "INT32 FLOAT64")
        XCTAssertEqual(g.metadataKeys.first, "general.architecture")
        XCTAssertEqual(g.tensorNames, ["a.weight", "b.weight"])
        let a = try g.tensor("a.weight")
        XCTAssertEqual(a.shape, [2, 3])  // reversed ne
        XCTAssertEqual(try a.floats(), [1, 2, 3, 4, 5, 6])
        let b = try g.tensor("b.weight")
        XCTAssertEqual(b.dtype, .q8_0)
        XCTAssertEqual(try b.floats(), (0..<32).map { Float($0) * 0.5 })
        XCTAssertEqual(g.dataOffset % 32, 0)
    }

    func testCustomAlignment() throws {
        var b = sample()
        b.alignment = 64
        b.add("general.alignment", uint32: 64)
        let g = try GGUFFile(path: try b.write("align.gguf"))
        XCTAssertEqual(g.alignment, 64)
        XCTAssertEqual(g.dataOffset % 64, 0)
        XCTAssertEqual(try g.tensor("b.weight").floats()[3], 1.5)
    }

    func testVersion2() throws {
        var b = sample()
        b.version = 2
        XCTAssertEqual(try GGUFFile(path: try b.write("v2.gguf")).version, 2)
    }

    /// Every proper prefix of a valid file is refused with a one-line error naming the file.
    func testEveryTruncationIsRefused() throws {
        let bytes = sample().bytes()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lantern-gguf-trunc-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("t.gguf").path
        for n in 0..<bytes.count {
            try Data(bytes[0..<n]).write(to: URL(fileURLWithPath: path))
            do {
                _ = try GGUFFile(path: path)
                XCTFail("a file cut to \(n) of \(bytes.count) bytes was accepted")
            } catch let e as LanternError {
                guard case let .badFile(p, _, problem) = e else { return XCTFail("\(e)") }
                XCTAssertEqual(p, path)
                XCTAssertFalse(problem.contains("\n"))
            }
        }
    }

    func expectBad(_ b: GGUFBuilder, field: String, problem: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try b.write("bad.gguf")
        XCTAssertThrowsError(try GGUFFile(path: path), file: file, line: line) { error in
            guard case let .badFile(p, f, message)? = error as? LanternError else {
                return XCTFail("not a badFile error: \(error)", file: file, line: line)
            }
            XCTAssertEqual(p, path, file: file, line: line)
            XCTAssertTrue(f.contains(field), "field '\(f)' should mention '\(field)'", file: file, line: line)
            XCTAssertTrue(message.contains(problem), "'\(message)' should mention '\(problem)'", file: file, line: line)
        }
    }

    func testMalformedFiles() throws {
        var b = sample()
        b.version = 1
        try expectBad(b, field: "version", problem: "not supported")

        b = sample()
        b.tensorCountOverride = UInt64.max
        try expectBad(b, field: "tensor_count", problem: "past the end")

        b = sample()
        b.kvCountOverride = 1 << 62
        try expectBad(b, field: "kv_count", problem: "past the end")

        b = sample()
        b.add("bad.string", type: 8, GGUFBuilder.u64(1 << 40))
        try expectBad(b, field: "bad.string", problem: "string length")

        b = sample()
        b.add("bad.array", type: 9, GGUFBuilder.u32(8) + GGUFBuilder.u64(UInt64.max))
        try expectBad(b, field: "bad.array", problem: "array length")

        b = sample()
        b.add("bad.type", type: 13, [0])
        try expectBad(b, field: "bad.type", problem: "unknown value type 13")

        b = sample()
        b.tensors[0].type = 77
        try expectBad(b, field: "a.weight", problem: "unknown type 77")

        b = sample()
        b.tensors[0].type = 10
        try expectBad(b, field: "a.weight", problem: "Q2_K")

        b = sample()
        b.offsetOverride[1] = 1 << 20
        try expectBad(b, field: "b.weight", problem: "past the end")

        b = sample()
        b.offsetOverride[1] = 64
        try expectBad(b, field: "b.weight", problem: "outside")

        b = sample()
        b.offsetOverride[1] = 33
        try expectBad(b, field: "b.weight", problem: "alignment")

        b = sample()
        b.tensors[1].ne = [16, 2]
        try expectBad(b, field: "b.weight", problem: "block size")

        b = sample()
        b.tensors[1].ne = [32, 1, 1, 1, 1]
        try expectBad(b, field: "b.weight", problem: "dimensions")

        b = sample()
        b.add("general.alignment", uint32: 48)
        try expectBad(b, field: "general.alignment", problem: "power of two")

        b = sample()
        b.add("llama.block_count", uint32: 3)
        try expectBad(b, field: "llama.block_count", problem: "duplicate")

        var bytes = sample().bytes()
        bytes[0] = UInt8(ascii: "X")
        let path = try GGUFBuilder().write("magic.gguf")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try GGUFFile(path: path)) { XCTAssertTrue("\($0)".contains("magic")) }
    }
}
