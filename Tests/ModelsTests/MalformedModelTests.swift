import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
@testable import Models

/// A broken model directory gives a one-line error that names the file and the field.
final class MalformedModelTests: XCTestCase {
    var dir = ""
    let source = FixtureParityTests.fixtures.appendingPathComponent("gemma2_tiny")

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "lantern-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: source.appendingPathComponent(file).path, toPath: dir + "/" + file)
        }
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func editConfig(_ edit: (inout [String: Any]) -> Void) throws {
        let path = dir + "/config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    }

    func assertLoadFails(_ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Transformer(directory: dir, backend: CPUBackend()), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(expected), "'\(text)' lacks '\(expected)'", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "one line", file: file, line: line)
        }
    }

    func testLoadsWhenIntact() throws {
        XCTAssertNoThrow(try Transformer(directory: dir, backend: CPUBackend()))
    }

    func testTruncatedWeights() throws {
        let path = dir + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        assertLoadFails("model.safetensors: ")
        assertLoadFails("outside the")
    }

    func testShapeContradictsConfig() throws {
        try editConfig { $0["intermediate_size"] = 96 }
        assertLoadFails("model.layers.0.mlp.gate_proj.weight: shape [128, 64] contradicts config.json, which implies [96, 64]")
    }

    func testMissingTensor() throws {
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        let kept = try file.tensorNames.filter { $0 != "model.norm.weight" }.map {
            SafetensorsWriter.Entry(name: $0, shape: try file.tensor($0).shape, values: try file.tensor($0).floats())
        }
        try SafetensorsWriter.write(kept, to: dir + "/model.safetensors")
        assertLoadFails("model.norm.weight: tensor is missing")
    }

    func testBadConfig() throws {
        try "{ not json".write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        assertLoadFails("config.json: file: not a JSON object")
        try FileManager.default.removeItem(atPath: dir + "/config.json")
        assertLoadFails("config.json: file: cannot read")
    }
}
