import Foundation
import XCTest

/// `lantern transcoder harvest | train | eval` end to end on the tiny Gemma 3 fixture.
extension CLITests {
    func testTranscoderHarvestTrainEval() throws {
        let dir = NSTemporaryDirectory() + "cli-transcoder-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = (0..<40).map { "Sentence \($0) of a small corpus for the transcoder test.\n\n" }.joined()
        try text.write(toFile: dir + "/corpus.txt", atomically: true, encoding: .utf8)
        let model = Self.fixtures.appendingPathComponent("gemma3_tiny").path
        let common = ["--model", model, "--byte-tokens", "--corpus", dir + "/corpus.txt"]

        let harvest = try run(["transcoder", "harvest"] + common + ["--layers", "1-2", "--tokens", "620", "--context", "32",
                                                                  "--out", dir + "/acts"])
        XCTAssertEqual(harvest.status, 0, harvest.err)
        XCTAssertTrue(harvest.err.contains("620 rows of 4 hooks (2 layers, width 64)"), harvest.err)

        let train = ["transcoder", "train", "--model", model, "--activations", dir + "/acts", "--width", "32", "--k", "4",
                     "--skip", "--tokens", "5000", "--batch", "100", "--lr", "1e-2", "--normalize", "per-dimension-sqrt", "--out", dir + "/tc"]
        let trained = try run(train)
        XCTAssertEqual(trained.status, 0, trained.err)
        for l in [1, 2] {
            let folder = dir + "/tc/layer_\(l)_width_32_k_4_affine"
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/params.safetensors"), folder)
            let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
            XCTAssertTrue(config.contains("model.layers.\(l).pre_feedforward_layernorm.output"), config)
        }
        let again = try run(train)
        XCTAssertTrue(again.err.contains("pass --resume"), again.err)
        let resumed = try run(train + ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.err.contains("layer 2: done"), resumed.err)
        // Resuming with other settings is refused, naming what differs.
        let changed = try run(train.map { $0 == "1e-2" ? "2e-2" : $0 } + ["--resume"])
        XCTAssertEqual(changed.status, 2, changed.err)
        XCTAssertTrue(changed.err.contains("--lr 0.02 (checkpoint: 0.01)"), changed.err)

        let eval = try run(["transcoder", "eval"] + common + ["--transcoders", dir + "/tc", "--tokens", "62", "--context", "32", "--each", "--json"])
        XCTAssertEqual(eval.status, 0, eval.err)
        let report = try JSONSerialization.jsonObject(with: Data(eval.out.utf8)) as! [String: Any]
        let layers = report["layers"] as! [[String: Any]]
        XCTAssertEqual(layers.map { $0["layer"] as! Int }, [1, 2])
        XCTAssertEqual(report["tokens"] as? Int, 62)
        for layer in layers {
            let fvu = layer["fvu"] as! Double
            XCTAssertTrue(fvu > 0 && fvu < 0.5, "a trained transcoder explains most of the MLP output: FVU \(fvu)")
            XCTAssertNotNil(layer["ce_loss_score"])
            XCTAssertEqual(layer["ce_loss_increase"] as! Double, (layer["ce_replaced"] as! Double) - (report["ce_clean"] as! Double), accuracy: 1e-12)
        }
        XCTAssertEqual(report["ce_loss_increase_all"] as! Double,
                       (report["ce_all_replaced"] as! Double) - (report["ce_clean"] as! Double), accuracy: 1e-12)

        // Activations of one model are no training data for another: one line naming the
        // harvest's manifest and both models.
        let other = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let foreign = try run(train.map { $0 == model ? other : $0 == dir + "/tc" ? dir + "/other" : $0 })
        XCTAssertEqual(foreign.status, 1, foreign.err)
        XCTAssertTrue(foreign.err.contains("acts/manifest.json: model: the activations were harvested from gemma3_tiny"), foreign.err)
        XCTAssertTrue(foreign.err.contains("but --model is gemma2_tiny"), foreign.err)
        XCTAssertEqual(foreign.err.split(separator: "\n").count, 1, foreign.err)

        let badLayers = try run(["transcoder", "harvest"] + common + ["--layers", "5-9", "--tokens", "10", "--out", dir + "/x"])
        XCTAssertNotEqual(badLayers.status, 0)
        XCTAssertTrue(badLayers.err.contains("--layers: 5-9 is outside 0..<7"), badLayers.err)
        let notTranscoders = try run(["transcoder", "eval"] + common + ["--transcoders", dir + "/acts"])
        XCTAssertNotEqual(notTranscoders.status, 0)
        XCTAssertTrue(notTranscoders.err.contains("is not a transcoder folder"), notTranscoders.err)
    }
}
