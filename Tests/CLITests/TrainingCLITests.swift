import Foundation
import XCTest

/// `lantern harvest` and `lantern sae train` end to end on the tiny Gemma 2 fixture.
extension CLITests {
    func testHarvestThenTrainThenResume() throws {
        let dir = NSTemporaryDirectory() + "cli-train-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = (0..<30).map { "Line \($0) of a small corpus for the harvest test.\n\n" }.joined()
        try text.write(toFile: dir + "/corpus.txt", atomically: true, encoding: .utf8)
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path

        let harvest = try run(["harvest", "--model", model, "--byte-tokens", "--corpus", dir + "/corpus.txt",
                               "--hook", "blocks.1.hook_resid_post", "--tokens", "620", "--context", "32", "--batch", "4",
                               "--out", dir + "/acts"])
        XCTAssertEqual(harvest.status, 0, harvest.err)
        XCTAssertTrue(harvest.err.contains("620 rows of blocks.1.hook_resid_post (width 64) in 5 shards"), harvest.err)

        let train = ["sae", "train", "--model", model, "--hook", "blocks.1.hook_resid_post", "--width", "32", "--k", "4",
                     "--tokens", "2000", "--batch", "100", "--activations", dir + "/acts", "--out", dir + "/sae",
                     "--checkpoint-every", "5"]
        let first = try run(train)
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/sae/cfg.json"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/sae/sae_weights.safetensors"))
        XCTAssertTrue(first.err.contains("explained variance"), first.err)

        let tooMany = try run(train + ["--rows", "10000", "--out", dir + "/more"])
        XCTAssertNotEqual(tooMany.status, 0)
        XCTAssertTrue(tooMany.err.contains("--rows 10000: the activations hold only 620 rows"), tooMany.err)

        let again = try run(train)
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.err.contains("pass --resume"), again.err)
        let resumed = try run(train + ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.err.contains("resuming at step 20 of 20"), resumed.err)

        // A run.json that is not Lantern's, and a checkpoint that is a symlink loop, are errors:
        // never "no checkpoint" (which would restart from step 0 over the run).
        try Data("{\"rows\": true}".utf8).write(to: URL(fileURLWithPath: dir + "/sae/run.json"))
        let badRun = try run(train + ["--resume"])
        XCTAssertNotEqual(badRun.status, 0)
        XCTAssertTrue(badRun.err.contains("run.json: rows: expected an integer ≥ 0, got true"), badRun.err)
        try FileManager.default.createDirectory(atPath: dir + "/loop", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/loop/checkpoint.safetensors", withDestinationPath: dir + "/loop/checkpoint.safetensors")
        var looped = train
        looped[looped.firstIndex(of: dir + "/sae")!] = dir + "/loop"
        for arguments in [looped, looped + ["--resume"]] {
            let r = try run(arguments)
            XCTAssertNotEqual(r.status, 0, "\(arguments.last!)")
            XCTAssertTrue(r.err.contains("not a readable file (a directory, a dangling link or a symlink loop)"), r.err)
        }

        let wrongHook = try run(["sae", "train", "--model", model, "--hook", "blocks.0.hook_resid_post", "--width", "32", "--k", "4",
                                 "--tokens", "200", "--activations", dir + "/acts", "--out", dir + "/other"])
        XCTAssertTrue(wrongHook.err.contains("holds blocks.1.hook_resid_post"), wrongHook.err)
    }
}
