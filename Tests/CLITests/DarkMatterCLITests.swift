import Foundation
import XCTest

/// `sae sweep`, `sae eval --activations`, the training log, and steering's promoted-token report,
/// end to end on the tiny Gemma 2 fixture.
extension CLITests {
    /// Harvests 1,240 rows of blocks.1.hook_resid_post (byte tokens) into DIR/acts.
    func harvestedFixture() throws -> (dir: String, model: String) {
        let dir = NSTemporaryDirectory() + "cli-darkmatter-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let text = (0..<60).map { "Sentence \($0): the quick brown fox jumps over the lazy dog, again and again.\n\n" }.joined()
        try text.write(toFile: dir + "/corpus.txt", atomically: true, encoding: .utf8)
        let model = Self.fixtures.appendingPathComponent("gemma2_tiny").path
        let harvest = try run(["harvest", "--model", model, "--byte-tokens", "--corpus", dir + "/corpus.txt",
                               "--hook", "blocks.1.hook_resid_post", "--tokens", "1240", "--context", "32", "--batch", "8",
                               "--out", dir + "/acts", "--backend", "cpu"])
        XCTAssertEqual(harvest.status, 0, harvest.err)
        return (dir, model)
    }

    func testSweepReportsEverySAEAndAFit() throws {
        let (dir, model) = try harvestedFixture()
        let sweep = ["sae", "sweep", "--model", model, "--activations", dir + "/acts", "--widths", "16", "32", "64", "128",
                     "--k", "4", "--tokens", "3000", "--batch", "100", "--linear-rows", "1000", "--out", dir + "/sweep",
                     "--backend", "cpu", "--json", "--html", dir + "/sweep.html"]
        let data = try json(sweep)
        let saes = data["saes"] as! [[String: Any]]
        XCTAssertEqual(saes.map { $0["width"] as! Int }, [16, 32, 64, 128])
        XCTAssertEqual(data["heldout_rows"] as! Int, 124, "the last 10% of 1,240 rows")
        for s in saes {
            let fvu = s["fvu"] as! Double, linear = s["linear_share_of_error"] as! Double
            XCTAssertTrue(fvu > 0 && fvu < 1, "FVU \(fvu)")
            XCTAssertTrue(linear > -1 && linear <= 1, "linear share \(linear)")
            XCTAssertEqual(s["l0"] as! Double, 4, accuracy: 1e-9, "TopK k = 4")
            XCTAssertEqual(s["nonlinear_fvu"] as! Double, fvu * (1 - linear), accuracy: 1e-12)
        }
        let fvus = saes.map { $0["fvu"] as! Double }
        XCTAssertLessThan(fvus.last!, fvus.first!, "a wider SAE leaves less unexplained: \(fvus)")
        let fit = data["fit"] as! [String: Double]
        XCTAssertTrue(fit["c"]! >= 0 && fit["c"]! < fvus.min()!, "the floor lies below every measured FVU: \(fit)")
        for f in ["training-log.csv", "training.svg", "cfg.json", "sae_weights.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/sweep/width-64/" + f), f)
        }
        let log = try String(contentsOfFile: dir + "/sweep/width-64/training-log.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(log.first, "step,tokens,loss,l0,explained_variance,dead_fraction")
        XCTAssertEqual(log.count, 1 + 30, "one row per step (3,000 tokens in batches of 100)")
        let html = try String(contentsOfFile: dir + "/sweep.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("floor c"), "the page has the log-log plot and the fit")
        // A rerun keeps the finished SAEs instead of training them again.
        let again = try run(Array(sweep.dropLast(3)))
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.err.contains("width 16: kept"), again.err)
        XCTAssertTrue(again.out.contains("fit: FVU ≈"), again.out)
        let bad = try run(["sae", "sweep", "--activations", dir + "/acts", "--widths", "16", "--k", "32", "--tokens", "10", "--out", dir + "/x"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--k"), bad.err)
    }

    func testEvalOverHarvestedRowsAndPerDimensionTraining() throws {
        let (dir, model) = try harvestedFixture()
        let train = try run(["sae", "train", "--model", model, "--hook", "blocks.1.hook_resid_post", "--width", "64", "--k", "4",
                             "--tokens", "4000", "--batch", "200", "--activations", dir + "/acts", "--normalize", "per-dimension",
                             "--out", dir + "/sae", "--backend", "cpu"])
        XCTAssertEqual(train.status, 0, train.err)
        let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/sae/cfg.json"))) as! [String: Any]
        XCTAssertEqual((cfg["lantern_training"] as! [String: Any])["normalization"] as? String, "per-dimension")
        let eval = try json(["sae", "eval", "--model", model, "--sae", dir + "/sae", "--activations", dir + "/acts",
                             "--rows", "1000", "--json", "--backend", "cpu"])
        XCTAssertEqual(eval["rows"] as! Int, 1000)
        XCTAssertEqual(eval["l0"] as! Double, 4, accuracy: 1e-9)
        let frequency = eval["feature_frequency"] as! [Double]
        XCTAssertEqual(frequency.count, 64)
        XCTAssertEqual(frequency.reduce(0, +), 4, accuracy: 1e-9, "k = 4 latents fire on every row")
        XCTAssertEqual(eval["dead_features"] as! Int, frequency.filter { $0 == 0 }.count)
        XCTAssertEqual(eval["dense_features"] as! Int, frequency.filter { $0 > 0.1 }.count)
        let ev = eval["explained_variance"] as! Double
        XCTAssertTrue(ev > 0.2 && ev <= 1, "explained variance \(ev)")
        if ProcessInfo.processInfo.environment["LANTERN_SKIP_VULKAN"] != "1" {
            // The same evaluation with the SAE on Vulkan (lavapipe in CI).
            let onDevice = try json(["sae", "eval", "--model", model, "--sae", dir + "/sae", "--activations", dir + "/acts",
                                     "--rows", "1000", "--json", "--backend", "vulkan"])
            XCTAssertEqual(onDevice["feature_frequency"] as! [Double], frequency)
            XCTAssertEqual(onDevice["explained_variance"] as! Double, ev, accuracy: 1e-5)
        }
        let bad = try run(["sae", "train", "--model", model, "--hook", "blocks.1.hook_resid_post", "--width", "64", "--k", "4",
                           "--tokens", "400", "--activations", dir + "/acts", "--normalize", "log", "--out", dir + "/bad"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("--normalize must be"), bad.err)

        // Steering by a feature moves probability onto the tokens its direction promotes.
        let steer = try json(["steer", "--model", model, "--sae", dir + "/sae", "--feature", "3", "--strength", "8",
                              "--token-ids", "2,100,101,102", "--max-new-tokens", "4", "--json", "--backend", "cpu"])
        XCTAssertEqual((steer["promoted_tokens"] as! [Int]).count, 10)
        let before = steer["promoted_mass_baseline"] as! Double, after = steer["promoted_mass_steered"] as! Double
        XCTAssertGreaterThan(after, before, "adding the feature's direction raises its promoted tokens' probability")
    }
}
