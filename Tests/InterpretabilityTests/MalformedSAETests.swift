import Foundation
import XCTest
import CPUBackend
import LanternCore
import Models
@testable import Formats
@testable import Interpretability

/// Broken SAE files are refused with one line that names the file and the field.
final class MalformedSAETests: XCTestCase {
    func expectError(_ relative: String, _ fragments: [String], model: String? = "gemma2_tiny",
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let path = Fixtures.path("sae/malformed/\(relative)")
        do {
            let sae = try SAE.load(path: path, backend: CPUBackend())
            if let model { try sae.check(against: try Fixtures.model(model).config) }
            XCTFail("\(relative) was accepted", file: file, line: line)
        } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(text.contains(fragment), "'\(text)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    func testGemmaScopeArchives() throws {
        try expectError("missing_threshold/layer_1", ["params.npz", "threshold", "missing"])
        try expectError("wrong_shape/layer_1", ["params.npz", "b_enc", "shape [5]", "expected [8]"])
        try expectError("nan_weights/layer_1", ["params.npz", "W_dec", "nan"])
        try expectError("truncated/layer_1", ["params.npz", "truncated"])
        try expectError("float64/layer_1", ["params.npz", "b_dec", "'<f8'"])
        try expectError("d_in_32/layer_1", ["d_in", "32", "blocks.1.hook_resid_post", "64 wide"])
    }

    func testSAELensDirectories() throws {
        try expectError("saelens_gated", ["cfg.json", "architecture", "'gated' is not supported"])
        try expectError("saelens_no_d_sae", ["cfg.json", "d_sae", "missing"])
        try expectError("saelens_missing_b_dec", ["sae_weights.safetensors", "b_dec", "missing"])
        try expectError("saelens_bad_hook", ["hook_name", "no hook 'blocks.9.hook_resid_post'"])
        try expectError("saelens_normalized", ["normalize_activations", "not supported"])
    }

    func testNotAnSAE() throws {
        XCTAssertThrowsError(try SAE.load(path: Fixtures.path("gemma2_tiny"), backend: CPUBackend())) {
            XCTAssertTrue("\($0)".contains("neither cfg.json (SAELens) nor params.npz (Gemma Scope)"), "\($0)")
        }
        XCTAssertThrowsError(try SAE.load(path: "/nonexistent/params.npz", backend: CPUBackend())) {
            XCTAssertTrue("\($0)".contains("/nonexistent/params.npz: file: does not exist"), "\($0)")
        }
    }

    func testNPYRoundTrip() throws {
        let a = NPYArray(shape: [2, 3], values: [1, 2, 3, 4, 5, -6.5])
        let b = try NPYArray(bytes: a.data(), path: "memory", name: "a")
        XCTAssertEqual(b.shape, [2, 3])
        XCTAssertEqual(b.values, a.values)
        XCTAssertThrowsError(try NPYArray(bytes: a.data().dropLast(4), path: "memory", name: "a")) {
            XCTAssertTrue("\($0)".contains("truncated"), "\($0)")
        }
    }
}
