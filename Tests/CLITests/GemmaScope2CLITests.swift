import Foundation
import XCTest

/// Gemma Scope 2 folders through `--sae`, as a user passes them.
extension CLITests {
    var tinyGemma3: String { Self.fixtures.appendingPathComponent("gemma3_tiny").path }
    var scope2SAE: String { Self.fixtures.appendingPathComponent("gemma_scope2/resid_post/layer_2_width_96_l0_small").path }

    func testGemmaScope2FolderWorksAsSAE() throws {
        let features = try json(["features", "--model", tinyGemma3, "--sae", scope2SAE, "--token-ids", "2,5,9", "--top", "2",
                                 "--backend", "cpu", "--json"])
        XCTAssertEqual((features["tokens"] as! [[String: Any]]).count, 3)
        let eval = try json(["sae", "eval", "--model", tinyGemma3, "--sae", scope2SAE + "/params.safetensors",
                             "--token-ids", "2,5,9,11", "--backend", "cpu", "--json"])
        XCTAssertNotNil((eval["overall"] as! [String: Any])["ce_loss_score"])
    }

    func testBrokenGemmaScope2FolderFailsWithOneLine() throws {
        let broken = NSTemporaryDirectory() + "gs2-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: broken) }
        try FileManager.default.copyItem(atPath: scope2SAE, toPath: broken)
        let config = URL(fileURLWithPath: broken + "/config.json")
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as! [String: Any]
        cfg["hf_hook_point_in"] = "model.layers.2.mlp.output"
        try JSONSerialization.data(withJSONObject: cfg).write(to: config)
        let transcoder = Self.fixtures.appendingPathComponent("gemma_scope2/transcoder/layer_3_width_80_l0_small_affine").path
        let cases: [([String], String)] = [
            (["features", "--model", tinyGemma3, "--sae", broken, "--token-ids", "2,5"], "hf_hook_point_in: 'model.layers.2.mlp.output' does not map"),
            (["sae", "eval", "--model", tinyGemma3, "--sae", transcoder, "--token-ids", "2,5"], "this folder is a transcoder, not an SAE"),
        ]
        for (arguments, expected) in cases {
            let r = try run(arguments + ["--backend", "cpu"])
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.err.contains(expected), "\(arguments): '\(r.err)' lacks '\(expected)'")
            XCTAssertEqual(r.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, "one line: \(r.err)")
        }
    }
}
