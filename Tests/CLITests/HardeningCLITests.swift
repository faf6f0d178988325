import Foundation
import XCTest

/// The first hardening pass's classes as a user meets them: non-finite numbers, inconsistent resumes, empty
/// evaluations, hook typos, missing models, progress in a pipe, exact harvests.
extension CLITests {
    func hardeningDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "cli-hardening-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// A copy of the tiny Gemma 2 model with one NaN written into layer 1's MLP down projection.
    func modelWithNaN(in dir: String) throws -> String {
        let source = Self.fixtures.appendingPathComponent("gemma2_tiny")
        let copy = dir + "/nan_model"
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source.appendingPathComponent("config.json").path, toPath: copy + "/config.json")
        var data = try Data(contentsOf: source.appendingPathComponent("model.safetensors"))
        let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        let entry = header["model.layers.1.mlp.down_proj.weight"] as! [String: Any]
        let begin = 8 + headerLength + (entry["data_offsets"] as! [Int])[0]
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { data.replaceSubrange(begin..<(begin + 4), with: $0) }
        try data.write(to: URL(fileURLWithPath: copy + "/model.safetensors"))
        return copy
    }

    func oneLine(_ text: String) -> Bool { text.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1 }

    func testHardeningNonFiniteWeightsNameTheHookAndLayer() throws {
        let model = try modelWithNaN(in: try hardeningDirectory())
        for command in [["next"], ["generate", "--json"], ["lens"], ["generate", "--temperature", "0.7"]] {
            let r = try run(command + ["--model", model, "--token-ids", "2,5,9", "--backend", "cpu"])
            XCTAssertEqual(r.status, 1, "\(command): \(r.err)")
            XCTAssertTrue(r.err.contains("non-finite activation: blocks.1.hook_mlp_out (layer 1) holds nan at position 0"), "\(command): \(r.err)")
            XCTAssertTrue(oneLine(r.err), r.err)
            XCTAssertFalse(r.err.contains("NSCocoaErrorDomain"), r.err)
        }
    }

    /// A harvest with one NaN row: training stops naming the row instead of writing an all-NaN SAE.
    func testHardeningTrainingRefusesNonFiniteRowsAndChangedResumes() throws {
        let dir = try hardeningDirectory()
        let text = (0..<30).map { "Line \($0) of a small corpus for the hardening test.\n\n" }.joined()
        try text.write(toFile: dir + "/corpus.txt", atomically: true, encoding: .utf8)
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let harvest = try run(["harvest", "--model", model, "--byte-tokens", "--corpus", dir + "/corpus.txt", "--hook", "blocks.1.hook_resid_post",
                               "--tokens", "300", "--context", "32", "--batch", "4", "--out", dir + "/acts", "--backend", "cpu"])
        XCTAssertEqual(harvest.status, 0, harvest.err)
        // Exactly --tokens rows (300 = 9 contexts of 31 rows + 21), not a whole number of contexts.
        XCTAssertTrue(harvest.err.contains("300 rows of blocks.1.hook_resid_post"), harvest.err)

        let train = ["sae", "train", "--model", model, "--hook", "blocks.1.hook_resid_post", "--width", "32", "--k", "4",
                     "--tokens", "400", "--batch", "50", "--activations", dir + "/acts", "--out", dir + "/sae", "--checkpoint-every", "2",
                     "--rows", "250", "--backend", "cpu"]
        let first = try run(train)
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.err.contains("held out (rows 250..<300, not trained on): L0"), first.err)
        for (change, named) in [(["--width", "64"], "--width 64 (checkpoint: 32)"), (["--k", "8"], "--k 8 (checkpoint: 4)"),
                                (["--lr", "0.001"], "--lr 0.001 (checkpoint: 0.0005)"), (["--seed", "3"], "--seed 3 (checkpoint: 0)"),
                                (["--batch", "40"], "--batch 40 (checkpoint: 50)"), (["--rows", "200"], "200 rows (checkpoint: 250")] {
            var changed = train + ["--resume"]
            if let i = changed.firstIndex(of: change[0]) { changed[i + 1] = change[1] } else { changed += change }
            let r = try run(changed)
            XCTAssertEqual(r.status, 2, "\(change): \(r.err)")
            XCTAssertTrue(r.err.contains(named), "\(change): \(r.err)")
            XCTAssertTrue(oneLine(r.err), r.err)
        }
        let archChanged = try run(train.filter { $0 != "--k" && $0 != "4" } + ["--l0", "4", "--arch", "jumprelu", "--resume"])
        XCTAssertTrue(archChanged.err.contains("--arch jumprelu (checkpoint: topk)"), archChanged.err)
        try FileManager.default.copyItem(atPath: dir + "/acts", toPath: dir + "/acts2")
        let otherData = try run(train.map { $0 == dir + "/acts" ? dir + "/acts2" : $0 } + ["--resume"])
        XCTAssertTrue(otherData.err.contains("--activations"), otherData.err)
        XCTAssertEqual(try run(train + ["--resume"]).status, 0)

        // One NaN in a shard: refused at the row, nothing written.
        let shard = dir + "/acts2/shard-00000.safetensors"
        var data = try Data(contentsOf: URL(fileURLWithPath: shard))
        let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        let begin = 8 + headerLength + ((header["activations"] as! [String: Any])["data_offsets"] as! [Int])[0] + 64 * 4 * 7
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { data.replaceSubrange(begin..<(begin + 4), with: $0) }
        try data.write(to: URL(fileURLWithPath: shard))
        let poisoned = try run(train.map { $0 == dir + "/acts" ? dir + "/acts2" : $0 == dir + "/sae" ? dir + "/sae2" : $0 })
        XCTAssertEqual(poisoned.status, 1, poisoned.err)
        XCTAssertTrue(poisoned.err.contains("activation row 7 holds nan"), poisoned.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/sae2/sae_weights.safetensors"))
    }

    func testHardeningEmptyEvaluationIsAnError() throws {
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let sae = Self.fixtures.appendingPathComponent("sae/gemmascope/layer_1/width_96").path
        let r = try run(["sae", "eval", "--model", model, "--sae", sae, "--token-ids", "2", "--backend", "cpu"])
        XCTAssertEqual(r.status, 1, r.err)
        XCTAssertTrue(r.err.contains("sae eval: no tokens to evaluate"), r.err)
        XCTAssertFalse(r.out.contains("explained variance"), r.out)
    }

    func testHardeningHookTyposGetASuggestionAndAreNotBlamedOnTheSAE() throws {
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let sae = Self.fixtures.appendingPathComponent("sae/gemmascope/layer_1/width_96").path
        let r = try run(["sae", "eval", "--model", model, "--sae", sae, "--hook", "blocks.1.hook_resid_pots", "--token-ids", "2,5", "--backend", "cpu"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains("--hook 'blocks.1.hook_resid_pots' is not a hook of this model (4 layers): did you mean blocks.1.hook_resid_post?"), r.err)
        XCTAssertFalse(r.err.contains(sae), r.err)
        let trace = try run(["trace", "--model", model, "--token-ids", "2", "--hooks", "blocks.0.hook_mlp_ot", "--out", "/tmp/never.safetensors"])
        XCTAssertTrue(trace.err.contains("did you mean blocks.0.hook_mlp_out?"), trace.err)
        let list = try run(["trace", "--model", model, "--list-hooks", "--backend", "cpu"])
        XCTAssertEqual(list.status, 0, list.err)
        XCTAssertTrue(list.out.contains("blocks.3.hook_resid_post"), list.out)
    }

    func testHardeningMissingModelAndPatchLengthsAndQuietBackend() throws {
        let missing = try run(["next", "--model", "/no/such/model", "--token-ids", "2"])
        XCTAssertEqual(missing.err, "Error: --model /no/such/model: no such model directory or .gguf file\n")
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let patch = try run(["patch", "--model", model, "--token-ids", "2,5,9", "--source-token-ids", "2,6", "--hook", "blocks.0.hook_resid_post",
                             "--mode", "patch", "--target", "3", "--backend", "cpu"])
        XCTAssertEqual(patch.status, 1, patch.err)
        XCTAssertTrue(patch.err.contains("the prompt is 3 tokens and the source prompt 2"), patch.err)
        let quiet = try run(["next", "--model", model, "--token-ids", "2,5"])
        XCTAssertEqual(quiet.status, 0, quiet.err)
        XCTAssertFalse(quiet.err.contains("using the CPU backend: vulkan: no"), "auto's fallback to the CPU for want of a GPU is said only with --verbose: \(quiet.err)")
        let verbose = try run(["next", "--model", model, "--token-ids", "2,5", "--verbose"])
        XCTAssertTrue(verbose.err.contains("using the "), verbose.err)
    }

    /// Off a terminal, progress is plain lines with a rate and the time left.
    func testHardeningProgressInAPipe() throws {
        let dir = try hardeningDirectory()
        let text = (0..<30).map { "Line \($0) of a small corpus.\n\n" }.joined()
        try text.write(toFile: dir + "/corpus.txt", atomically: true, encoding: .utf8)
        setenv("LANTERN_PROGRESS_SECONDS", "0", 1)
        defer { unsetenv("LANTERN_PROGRESS_SECONDS") }
        let r = try run(["harvest", "--model", Self.fixtures.appendingPathComponent("gemma2_tiny").path, "--byte-tokens", "--corpus", dir + "/corpus.txt",
                         "--hook", "blocks.1.hook_resid_post", "--tokens", "93", "--context", "32", "--batch", "1", "--out", dir + "/acts", "--backend", "cpu"])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.err.split(separator: "\n").filter { $0.hasPrefix("harvest blocks.1.hook_resid_post: ") }
        XCTAssertGreaterThanOrEqual(lines.count, 2, r.err)
        XCTAssertTrue(lines.allSatisfy { $0.contains("/s, ") && $0.contains(" left") && !$0.contains("\r") }, r.err)
    }
}

extension CLITests {
    /// A model whose tokenizer.json is a kind Lantern does not run (Unigram) still runs on ids;
    /// text is refused with the reason.
    func testUnsupportedTokenizerKindLeavesIdsWorking() throws {
        let source = Self.fixtures.appendingPathComponent("gemma2_tiny"), copy = try hardeningDirectory() + "/unigram"
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: source.appendingPathComponent(file).path, toPath: copy + "/" + file)
        }
        try #"{"version": "1.0", "model": {"type": "Unigram", "vocab": [["<pad>", 0.0]]}}"#.write(toFile: copy + "/tokenizer.json", atomically: true, encoding: .utf8)
        let ids = try run(["next", "--model", copy, "--token-ids", "2,5,9", "--backend", "cpu"])
        XCTAssertEqual(ids.status, 0, ids.err)
        let text = try run(["next", "--model", copy, "--backend", "cpu", "--prompt", "Hello"])
        XCTAssertNotEqual(text.status, 0)
        XCTAssertTrue(text.err.contains("has no tokenizer (tokenizer.json: model.type: Unigram"), text.err)
        XCTAssertTrue(oneLine(text.err), text.err)
        // A damaged tokenizer.json still stops the model.
        try #"{"model": []}"#.write(toFile: copy + "/tokenizer.json", atomically: true, encoding: .utf8)
        XCTAssertNotEqual(try run(["next", "--model", copy, "--token-ids", "2,5,9", "--backend", "cpu"]).status, 0)
    }
}
