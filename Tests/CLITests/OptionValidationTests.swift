import Foundation
import XCTest

/// Every bad option value: one line on standard error naming the flag, exit code 2 (a usage
/// error), before any model or file is read — never a trap, an allocation abort or a silent run.
extension CLITests {
    func testHardeningBadOptionValuesGetOneLineNamingTheFlag() throws {
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let sae = Self.fixtures.appendingPathComponent("sae/gemmascope/layer_1/width_96").path
        let max = "\(Int.max)"
        let train = ["sae", "train", "--model", model, "--hook", "blocks.1.hook_resid_post", "--activations", "/nonexistent",
                     "--tokens", "1000", "--out", NSTemporaryDirectory() + "never-\(UUID().uuidString)"]
        let cases: [([String], String)] = [
            (["generate", "--model", model, "--token-ids", "2", "--temperature", "nan"], "--temperature must be a finite number ≥ 0 and ≤ 100, not nan"),
            (["generate", "--model", model, "--token-ids", "2", "--max-new-tokens", max], "--max-new-tokens must be between 0 and"),
            (["generate", "--model", model, "--token-ids", "2", "--top-k", max], "--top-k must be between 1 and"),
            (["generate", "--model", model, "--token-ids", "2", "--top-p", "0"], "--top-p must be a finite number > 0 and ≤ 1"),
            (["next", "--model", model, "--token-ids", "2", "--top", max], "--top must be between 1 and 1000000"),
            (["lens", "--model", model, "--token-ids", "2", "--top-k", max], "--top-k must be between 1 and"),
            (["steer", "--model", model, "--sae", sae, "--feature", "1", "--strength", "nan", "--token-ids", "2"], "--strength must be a finite number, not nan"),
            (["steer", "--model", model, "--sae", sae, "--feature", "1", "--strength", "inf", "--token-ids", "2"], "--strength must be a finite number, not inf"),
            (["feature", "--model", model, "--sae", sae, "--id", "1", "--tokens", max], "--tokens must be between 1 and"),
            (["harvest", "--model", model, "--hook", "blocks.1.hook_resid_post", "--tokens", max, "--out", "/tmp/x"], "--tokens must be between 1 and"),
            (train + ["--width", "32", "--l0", "nan"], "--l0 must be a finite number > 0 and ≤ 32, not nan"),
            (train + ["--width", "32", "--k", "4", "--checkpoint-every", "0"], "--checkpoint-every must be between 1 and"),
            (train + ["--width", "32", "--k", "4", "--batch", "100000000"], "--batch must be between 1 and 1048576, not 100000000"),
            (train + ["--width", "4294967296", "--k", "4"], "--width must be between 1 and 16777216, not 4294967296"),
            (train + ["--width", max, "--k", "4"], "--width must be between 1 and 16777216"),
            (train + ["--width", "32", "--k", "4", "--lr", "1e30"], "--lr must be a finite number > 0 and ≤ 10"),
            (train + ["--width", "32", "--k", "64"], "--k must be between 1 and 32, not 64"),
            (["superposition", "--features", max], "--features must be between 1 and 100000"),
            (["next", "--model", model, "--token-ids", "2", "--vulkan-matmul", "f16"], "--vulkan-matmul f16 applies to the Vulkan backend"),
            (["harvest", "--model", model, "--hook", "blocks.1.hook_resid_post", "--tokens", "10", "--dtype", "bf16", "--out", "/tmp/x"],
             "--dtype must be f32 or f16, got 'bf16'"),
        ]
        for (arguments, expected) in cases {
            let r = try run(arguments + (arguments[0] == "superposition" ? [] : ["--backend", "cpu"]))
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.err)")
            XCTAssertTrue(r.err.contains(expected), "\(arguments): '\(r.err)' lacks '\(expected)'")
            XCTAssertEqual(r.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, "one line: \(r.err)")
        }
    }

    /// `--tokens` is a count everywhere; the prompt's ids are `--token-ids`, and the old spelling says so.
    /// Lists with an empty entry or a repeated choice are refused, not read as something else.
    func testHardeningListsAreReadExactly() throws {
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let sae = Self.fixtures.appendingPathComponent("sae/gemmascope/layer_1/width_96").path
        let cases: [([String], String)] = [
            (["steer", "--model", model, "--sae", sae, "--feature", "3,3", "--strength", "5", "--token-ids", "2,5"], "--feature names 3 twice in '3,3'"),
            (["steer", "--model", model, "--sae", sae, "--feature", "0,,1", "--strength", "5", "--token-ids", "2,5"], "--feature must be comma-separated integers, got '0,,1'"),
            (["attention", "--model", model, "--layer", "0,,1", "--token-ids", "2,5"], "--layer must be comma-separated integers"),
            (["attention", "--model", model, "--layer", "1,0,1", "--token-ids", "2,5"], "--layer names 1 twice"),
        ]
        for (arguments, expected) in cases {
            let r = try run(arguments + ["--backend", "cpu"])
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.err.contains(expected), "\(arguments): '\(r.err)' lacks '\(expected)'")
            XCTAssertEqual(r.err.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, "one line: \(r.err)")
        }
    }

    func testHardeningTokensFlagHasOneMeaning() throws {
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let old = try run(["next", "--model", model, "--tokens", "2,5", "--backend", "cpu"])
        XCTAssertEqual(old.status, 2, old.err)
        XCTAssertTrue(old.err.contains("--tokens is a count of tokens; give the prompt's ids with --token-ids 2,5"), old.err)
        let patch = try run(["patch", "--model", model, "--token-ids", "2,5", "--source-tokens", "2,6", "--hook", "blocks.0.hook_resid_post",
                             "--mode", "patch", "--target", "3", "--backend", "cpu"])
        XCTAssertEqual(patch.status, 2, patch.err)
        XCTAssertTrue(patch.err.contains("--source-tokens is now --source-token-ids"), patch.err)
        XCTAssertEqual(try run(["next", "--model", model, "--token-ids", "2,5", "--backend", "cpu"]).status, 0)
    }
}
