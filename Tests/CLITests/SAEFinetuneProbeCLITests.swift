import Foundation
import XCTest

/// `sae finetune` and `sae probe` end to end on the tiny Gemma 2 fixture (bytes as ids) with the
/// TopK SAE fixture.
extension CLITests {
    static var topKSAE: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/sae/saelens_topk").path
    }

    func testSAEFinetuneWritesAnSAEAndResumes() throws {
        let dir = NSTemporaryDirectory() + "cli-finetune-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TunedLensTrainingTextForCLI.text.write(toFile: dir + "/train.txt", atomically: true, encoding: .utf8)
        let args = ["sae", "finetune", "--model", tinyGemma2, "--byte-tokens", "--corpus", dir + "/train.txt", "--sae", Self.topKSAE,
                    "--tokens", "186", "--context", "32", "--batch", "2", "--lr", "1e-3", "--out", dir + "/tuned", "--backend", "cpu"]
        let first = try run(args)
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.err.contains("fine-tuned on 186 tokens"), first.err)
        let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/tuned/cfg.json"))) as! [String: Any]
        XCTAssertEqual(cfg["d_sae"] as? Int, 96)
        XCTAssertEqual((cfg["activation_fn_kwargs"] as? [String: Int])?["k"], 8)
        func logLines() throws -> [String] {
            try String(contentsOfFile: dir + "/tuned/training-log.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        }
        let log = try logLines()
        XCTAssertEqual(log.first, "step,tokens,kl,reconstruction_error,l0")
        XCTAssertEqual(log.dropFirst().map { $0.split(separator: ",")[0] }, ["1", "2", "3"], "one row per step")
        XCTAssertTrue(try String(contentsOfFile: dir + "/tuned/training.svg", encoding: .utf8).contains("KL(clean"))
        let again = try run(args)
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.err.contains("checkpoint.safetensors exists: pass --resume"), again.err)
        let resumed = try run(args + ["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertTrue(resumed.err.contains("resuming at step 3 of 3"), resumed.err)
        XCTAssertEqual(try logLines(), log, "a finished run resumed keeps its log")
        let eval = try json(["sae", "eval", "--model", tinyGemma2, "--sae", dir + "/tuned", "--token-ids", "2,72,101,108,108,111", "--json",
                             "--backend", "cpu"])
        XCTAssertEqual((eval["overall"] as? [String: Any])?["l0"] as? Double, 8)

        let jump = try run(["sae", "finetune", "--model", tinyGemma2, "--byte-tokens", "--corpus", dir + "/train.txt", "--sae",
                            Self.topKSAE.replacingOccurrences(of: "saelens_topk", with: "saelens_jumprelu"), "--tokens", "100",
                            "--out", dir + "/j", "--backend", "cpu"])
        XCTAssertEqual(jump.status, 2)
        XCTAssertTrue(jump.err.contains("fine-tuning takes a TopK SAE"), jump.err)
    }

    func testSAEProbeSeparatesTheClassesOfALabelledCorpus() throws {
        let dir = NSTemporaryDirectory() + "cli-probe-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Two kinds of documents that differ in every byte: digits and letters.
        var lines: [String] = []
        for i in 0..<20 {
            let digits = (0..<80).map { String(($0 * 7 + i) % 10) }.joined()
            let letters = (0..<80).map { String(UnicodeScalar(UInt8(97 + ($0 * 5 + i) % 26))) }.joined()
            lines.append(#"{"text": "\#(digits)", "kind": "digits"}"#)
            lines.append(#"{"text": "\#(letters)", "kind": "letters"}"#)
        }
        try lines.joined(separator: "\n").write(toFile: dir + "/labelled.jsonl", atomically: true, encoding: .utf8)
        let base = ["sae", "probe", "--model", tinyGemma2, "--byte-tokens", "--corpus", dir + "/labelled.jsonl", "--label", "kind",
                    "--sae", Self.topKSAE, "--train", "16", "--test", "8", "--context", "24", "--k", "1", "2", "--backend", "cpu"]
        let r = try json(base + ["--json"])
        XCTAssertEqual(r["classes"] as? [String], ["digits", "letters"])
        let model = r["model"] as! [String: Any]
        XCTAssertEqual(model["all"] as? [Double], [1, 1], "the model's mean activations tell digits from letters")
        let probes = ((r["saes"] as! [[String: Any]])[0]["top_k"] as! [[String: Any]])
        XCTAssertEqual(probes.map { $0["k"] as? Int }, [1, 2])
        for p in probes { XCTAssertEqual((p["accuracy"] as! [Double]).count, 2) }

        let tooMany = try run(base.map { $0 == "16" ? "400" : $0 })
        XCTAssertEqual(tooMany.status, 2)
        XCTAssertTrue(tooMany.err.contains("fewer than 400: lower --train or --context"), tooMany.err)
        let oneClass = try run(base.map { $0 == "kind" ? "nothing" : $0 })
        XCTAssertEqual(oneClass.status, 1, "a corpus without the field is a bad file")
        XCTAssertTrue(oneClass.err.contains("line 1") && oneClass.err.contains("'nothing'"), oneClass.err)
    }
}

/// Words enough for a few fine-tuning steps.
enum TunedLensTrainingTextForCLI {
    static let text: String = {
        let words = ["a", "small", "corpus", "for", "the", "sae", "with", "words", "that", "repeat", "often", "enough"]
        return (0..<200).map { i in (0..<8).map { words[(i * 7 + $0 * 3) % words.count] }.joined(separator: " ") + ".\n\n" }.joined()
    }()
}
