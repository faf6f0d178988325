import CPUBackend
import Foundation
@testable import Formats
@testable import Interpretability
import LanternCore
import XCTest

/// The declarative reading of JSON configs (`ConfigSchema`, `TensorShapes`) and the malformed
/// inputs it and the readers beside it refuse: numbers written as floats where integers belong,
/// an npz with two members of one name, a SAELens folder whose cfg.json names another layer.
final class StrictConfigTests: XCTestCase {
    let dir = NSTemporaryDirectory() + "lantern-strict-\(UUID().uuidString)"

    override func setUpWithError() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    let schema = ConfigSchema([
        .init("width", .integer(1...1000), .required()),
        .init("name", .string),
        .init("scale", .number(.positive), .defaultValue(.number(1))),
        .init("flag", .boolean),
        .init("kind", .choice(["a", "topk"], expected: "a or topk")),
        .init("k", .integer(1...Int.max), .requiredWhen(key: "kind", values: ["topk"], note: "topk needs k")),
        .init("inner.k", .integer(1...Int.max)),
        .init("head", .unsupported(why: "per-head is not supported")),
    ], rules: [.atMost("k", limit: "width"), .atMost("inner.k", limit: "width")])

    func read(_ json: String) throws -> ConfigValues {
        try schema.read(try JSONReader.parse(Array(json.utf8)), path: "c.json")
    }

    func testSchemaReadsDeclaredFieldsStrictly() throws {
        let values = try read(#"{"width": 8, "name": "x", "flag": false, "kind": "topk", "k": 4, "inner": {"k": 2}, "head": null, "other": [1]}"#)
        XCTAssertEqual(try values.int("width"), 8)
        XCTAssertEqual(try values.double("scale"), 1)
        XCTAssertEqual(try values.bool("flag"), false)
        XCTAssertEqual(try values.int("inner.k"), 2)
        XCTAssertNil(try values.string("head"))
        // A key the schema does not declare cannot be read around it.
        expectError(["c.json: other: read but not declared"]) { try values.int("other") as Any }

        let cases: [(String, String)] = [
            (#"{}"#, "width: missing"),
            (#"{"width": 8.0}"#, "width: expected a positive integer up to 1000, got 8.0"),
            (#"{"width": true}"#, "width: expected a positive integer up to 1000, got true"),
            (#"{"width": "8"}"#, #"width: expected a positive integer up to 1000, got "8""#),
            (#"{"width": 2048}"#, "width: expected a positive integer up to 1000, got 2048"),
            (#"{"width": 8, "scale": true}"#, "scale: expected a finite number > 0, got true"),
            (#"{"width": 8, "scale": 0}"#, "scale: expected a finite number > 0, got 0"),
            (#"{"width": 8, "flag": 1}"#, "flag: expected true or false, got 1"),
            (#"{"width": 8, "kind": "b"}"#, "kind: 'b' is not supported (expected a or topk)"),
            (#"{"width": 8, "kind": "topk"}"#, "k: missing (topk needs k)"),
            (#"{"width": 8, "k": 9}"#, "k: 9 is more than width 8"),
            (#"{"width": 8, "inner": {"k": 9}}"#, "inner.k: 9 is more than width 8"),
            (#"{"width": 8, "inner": 3}"#, "inner: expected an object, got 3"),
            (#"{"width": 8, "inner": {"k": 1, "k": 2}}"#, "inner.k: appears twice"),
            (#"{"width": 8, "width": 9}"#, "width: appears twice"),
            (#"{"width": 8, "head": 0}"#, "head: per-head is not supported"),
            (#"[1]"#, "file: is not a JSON object"),
        ]
        for (json, expected) in cases { expectError(["c.json: " + expected]) { try self.read(json) } }
        let path = dir + "/bad.json"
        try Data("{\"width\": 8,".utf8).write(to: URL(fileURLWithPath: path))
        expectError([path, "file: is not a JSON object (byte"]) { try self.schema.read(path: path) }
    }

    func testTensorShapesBindSizesAndCheckBeforeReading() throws {
        let shapes: [String: [Int]] = ["w": [4, 8], "b": [8], "bad": [5]]
        let checker = TensorShapes([.init("w", ["d_in", "d_sae"]), .init("b", ["d_sae"]), .init("skip", ["d_in", "d_in"], required: false)])
        XCTAssertEqual(try checker.check(path: "p", shape: { shapes[$0] }), ["d_in": 4, "d_sae": 8])
        expectError(["p: w: shape [4, 8], expected [4, 6] (d_sae 6 from cfg)"]) {
            try checker.check(path: "p", sizes: ["d_sae": 6], origin: "cfg", shape: { shapes[$0] })
        }
        expectError(["p: bad: shape [5], expected [8] (w is [4, 8])"]) {
            try TensorShapes([.init("w", ["d_in", "d_sae"]), .init("bad", ["d_sae"])]).check(path: "p", shape: { shapes[$0] })
        }
        expectError(["p: w: shape [4, 8] should have 1 dimensions"]) { try TensorShapes([.init("w", [4])]).check(path: "p", shape: { shapes[$0] }) }
        expectError(["p: t: missing (why)"]) { try TensorShapes([.init("t", [1], why: " (why)")]).check(path: "p", shape: { shapes[$0] }) }
    }

    /// Offsets and shapes written as floats are not integers, even when whole (256.0).
    func testSafetensorsNumbersWrittenAsFloatsAreRefused() throws {
        func file(_ header: String) throws -> String {
            let path = dir + "/f.safetensors"
            var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
            bytes += Array(header.utf8) + [UInt8](repeating: 0, count: 16)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        XCTAssertNoThrow(try SafetensorsFile(path: try file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#)))
        let offsets = try file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16.0]}}"#)
        expectError([offsets, "a.data_offsets", "two integers, got [0, 16.0]"]) { try SafetensorsFile(path: offsets) }
        let exponent = try file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,1.6e1]}}"#)
        expectError(["a.data_offsets"]) { try SafetensorsFile(path: exponent) }
        let shape = try file(#"{"a":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]}}"#)
        expectError(["a.shape", "4.0"]) { try SafetensorsFile(path: shape) }
    }

    /// Two members named alike: which one a reader gets depends on the zip library.
    func testNPZWithADuplicateMemberNameIsRefused() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("sae/gemmascope/layer_1/width_96/params.npz"))))
        let central: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let entries = (0...(bytes.count - 4)).filter { bytes[$0..<($0 + 4)].elementsEqual(central) }
        func name(_ at: Int) -> ArraySlice<UInt8> { bytes[(at + 46)..<(at + 46 + (Int(bytes[at + 28]) | Int(bytes[at + 29]) << 8))] }
        let (first, second) = try XCTUnwrap(entries.indices.lazy.flatMap { i in entries[(i + 1)...].lazy.map { (entries[i], $0) } }
            .first { name($0.0).count == name($0.1).count })
        let duplicate = Array(name(first))
        for (k, byte) in duplicate.enumerated() { bytes[second + 46 + k] = byte }
        let path = dir + "/params.npz"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        expectError([path, String(decoding: duplicate, as: UTF8.self), "appears twice"]) { try NPZArchive(path: path) }
    }

    /// A SAELens folder named for one layer whose cfg.json reads another: one line naming both.
    func testSAELensHookNamingAnotherLayerThanItsFolderIsRefused() throws {
        let fixture = Fixtures.path("sae/saelens_topk")   // hook_name blocks.1.hook_resid_post, hook_layer 1
        func folder(_ name: String, cfg edit: ((inout [String: Any]) -> Void)? = nil) throws -> String {
            let path = dir + "/" + name
            try? FileManager.default.removeItem(atPath: path)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: fixture, toPath: path)
            if let edit {
                var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + "/cfg.json"))) as! [String: Any]
                edit(&json)
                try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path + "/cfg.json"))
            }
            return path
        }
        for good in ["blocks.1.hook_resid_post", "layer_1", "release/layer_1/width_16k", "saes"] {
            XCTAssertNoThrow(try SAE.load(path: try folder(good), backend: CPUBackend()), good)
        }
        let six = try folder("blocks.6.hook_resid_post")
        expectError([six + "/cfg.json", "hook_name", "'blocks.1.hook_resid_post' is in layer 1, but its folder 'blocks.6.hook_resid_post' names layer 6"]) {
            try SAE.load(path: six, backend: CPUBackend())
        }
        let layer = try folder("release/layer_6/width_16k")
        expectError(["hook_name", "but its folder 'layer_6' names layer 6"]) { try SAE.load(path: layer, backend: CPUBackend()) }
        let hookLayer = try folder("mismatch") { $0["hook_layer"] = 3 }
        expectError(["hook_layer", "3, but hook_name 'blocks.1.hook_resid_post' is in layer 1"]) { try SAE.load(path: hookLayer, backend: CPUBackend()) }
    }
}
