import Foundation
import XCTest

/// `lantern transcoder train --cross-layer` end to end on the tiny Gemma 2 fixture (4 layers):
/// harvest, train, the folder `graph` reads, resume, and the refusals.
extension CLITests {
    func testCrossLayerTranscoderTrainAndGraph() throws {
        let dir = NSTemporaryDirectory() + "cli-clt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = (0..<40).map { "Sentence \($0) of a small corpus for the cross-layer test.\n\n" }.joined()
        try text.write(toFile: dir + "/corpus.txt", atomically: true, encoding: .utf8)
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let harvest = try run(["transcoder", "harvest", "--model", model, "--byte-tokens", "--corpus", dir + "/corpus.txt",
                               "--tokens", "310", "--context", "32", "--out", dir + "/acts"])
        XCTAssertEqual(harvest.status, 0, harvest.err)

        let train = ["transcoder", "train", "--cross-layer", "--model", model, "--activations", dir + "/acts", "--width", "16",
                     "--k", "4", "--tokens", "1000", "--batch", "100", "--lr", "1e-2", "--normalize", "per-dimension-sqrt",
                     "--checkpoint-every", "4", "--out", dir + "/clt"]
        let trained = try run(train)
        XCTAssertEqual(trained.status, 0, trained.err)
        XCTAssertTrue(trained.err.contains("cross-layer transcoder: 4 layers, 64 → 16 latents each, TopK 4"), trained.err)
        XCTAssertTrue(trained.err.contains("last batch FVU per layer"), trained.err)
        for i in 0..<4 { XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/clt/params_layer_\(i).safetensors"), "layer \(i)") }
        let config = try String(contentsOfFile: dir + "/clt/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"topk\"") && config.contains("model.layers.0.pre_feedforward_layernorm.output"), config)
        let log = try String(contentsOfFile: dir + "/clt/training-log.csv", encoding: .utf8)
        XCTAssertTrue(log.hasPrefix("step,tokens,loss,aux_loss,mean_fvu,fvu_0,fvu_1,fvu_2,fvu_3,l0,dead_fraction\n"), log)
        XCTAssertEqual(log.split(separator: "\n").count, 11)

        let graph = try run(["graph", "--model", model, "--backend", "cpu", "--token-ids", "2,165,234,93,146,71",
                             "--transcoders", dir + "/clt", "--out", dir + "/graph.json"])
        XCTAssertEqual(graph.status, 0, graph.err)
        XCTAssertTrue(graph.out.contains("6 tokens; "), graph.out)

        let eval = try run(["transcoder", "eval", "--model", model, "--byte-tokens", "--corpus", dir + "/corpus.txt",
                            "--transcoders", dir + "/clt", "--tokens", "62", "--context", "32", "--each", "--json"])
        XCTAssertEqual(eval.status, 0, eval.err)
        let report = try JSONSerialization.jsonObject(with: Data(eval.out.utf8)) as! [String: Any]
        let layers = report["layers"] as! [[String: Any]]
        XCTAssertEqual(layers.map { $0["layer"] as! Int }, [0, 1, 2, 3])
        for layer in layers {
            let fvu = layer["fvu"] as! Double
            XCTAssertTrue(fvu > 0 && fvu < 1, "a trained cross-layer transcoder explains part of each MLP output: FVU \(fvu)")
            let l0 = layer["l0"] as! Double
            XCTAssertTrue(l0 > 1 && l0 <= 4, "TopK 4 keeps at most 4 positive features: L0 \(l0)")
        }
        XCTAssertNotNil(report["ce_loss_score_all"])

        let again = try run(train)
        XCTAssertTrue(again.err.contains("pass --resume"), again.err)
        let resumed = try run(train + ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.err.contains("cross-layer transcoder: done"), resumed.err)
        let changed = try run(train.map { $0 == "1e-2" ? "2e-2" : $0 } + ["--resume"])
        XCTAssertEqual(changed.status, 2, changed.err)
        XCTAssertTrue(changed.err.contains("--lr 0.02 (checkpoint: 0.01)"), changed.err)

        // The memory budget, the skip and JumpReLU are refused in one line each.
        let big = try run(train.map { $0 == dir + "/clt" ? dir + "/big" : $0 } + ["--memory-gb", "0.0001"])
        XCTAssertNotEqual(big.status, 0)
        XCTAssertTrue(big.err.contains("(10 decoder blocks)") && big.err.contains("more than the budget of 0.0001 GB (--memory-gb)"), big.err)
        XCTAssertEqual(big.err.split(separator: "\n").count, 1, big.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/big"), "a refused run leaves nothing behind")
        let skip = try run(train.map { $0 == dir + "/clt" ? dir + "/skip" : $0 } + ["--skip"])
        XCTAssertTrue(skip.err.contains("--cross-layer has no affine skip"), skip.err)
        let gap = try run(train.map { $0 == dir + "/clt" ? dir + "/gap" : $0 } + ["--layers", "1-3"])
        XCTAssertTrue(gap.err.contains("layers 0…n−1 without a gap"), gap.err)
    }
}
