import CPUBackend
import Formats
import Models
import XCTest
@testable import Training

/// Harvesting on the tiny Gemma 2 fixture, with bytes as token ids (its vocabulary is 256).
final class HarvestTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/gemma2_tiny").path

    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "harvest-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func corpus(in dir: String) throws -> TextCorpus {
        let text = (0..<40).map { "Paragraph \($0): the quick brown fox jumps over the lazy dog \($0 * 7) times.\n\n" }.joined()
        let plain = dir + "/a.txt", jsonl = dir + "/b.jsonl"
        try text.write(toFile: plain, atomically: true, encoding: .utf8)
        try (0..<10).map { "{\"text\": \"Document \($0) says hello in JSON lines.\"}" }.joined(separator: "\n")
            .write(toFile: jsonl, atomically: true, encoding: .utf8)
        return try TextCorpus(files: [plain, jsonl])
    }

    func harvester(_ corpus: TextCorpus, worker: Int = 0, workers: Int = 1,
                   hooks: [String] = ["blocks.1.hook_resid_post"], batchRows: Int = Harvester.Options.defaultBatchRows,
                   contextsPerShard: Int = 3) throws -> Harvester {
        let model = try Transformer(directory: Self.fixture, backend: CPUBackend())
        let packer = ContextPacker(corpus: corpus, length: 32, bos: 2) { text in text.utf8.map { Int32($0) } }
        var options = Harvester.Options(hooks: hooks, tokens: 31 * 11, context: 32, contextsPerShard: contextsPerShard,
                                        worker: worker, workers: workers)
        options.batchRows = batchRows
        return try Harvester(model: model, modelName: "gemma2_tiny", packer: packer, options: options)
    }

    /// Contexts run together as rows of one pass write the rows they write one pass each: the
    /// same bits (every context is long enough for the many-row kernel alone), whatever the pass size.
    func testBatchedPassesWriteTheRowsOfSinglePasses() throws {
        let dir = try directory()
        let corpus = try corpus(in: dir)
        let hooks = ["blocks.0.ln2.hook_normalized", "blocks.1.hook_resid_post"]
        try harvester(corpus, hooks: hooks, batchRows: 0, contextsPerShard: 8).run(output: dir + "/single")
        for rows in [64, 100, 512] {
            try harvester(corpus, hooks: hooks, batchRows: rows, contextsPerShard: 8).run(output: dir + "/batched-\(rows)")
            for hook in hooks {
                let single = try HarvestedActivations(directory: dir + "/single", hook: hook)
                let batched = try HarvestedActivations(directory: dir + "/batched-\(rows)", hook: hook)
                XCTAssertEqual(batched.rowCount, single.rowCount)
                let all = Array(0..<single.rowCount)
                XCTAssertEqual(try batched.rows(all), try single.rows(all), "\(hook), passes of \(rows) rows")
            }
        }
    }

    /// One forward pass reading several hooks (a transcoder's input and output) writes the rows
    /// separate single-hook harvests write, each readable by its hook's name.
    func testSeveralHooksInOnePassEqualSeparateHarvests() throws {
        let dir = try directory()
        let corpus = try corpus(in: dir)
        let hooks = ["blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out", "blocks.1.hook_resid_post"]
        let together = try harvester(corpus, hooks: hooks).run(output: dir + "/together")
        XCTAssertEqual(together.hooks, hooks)
        XCTAssertThrowsError(try HarvestedActivations(directory: dir + "/together"))
        XCTAssertThrowsError(try HarvestedActivations(directory: dir + "/together", hook: "blocks.1.hook_mlp_out"))
        for hook in hooks {
            try harvester(corpus, hooks: [hook]).run(output: dir + "/" + hook)
            let alone = try HarvestedActivations(directory: dir + "/" + hook)
            let part = try HarvestedActivations(directory: dir + "/together", hook: hook)
            XCTAssertEqual(part.rowCount, alone.rowCount)
            XCTAssertEqual(part.hook, hook)
            let all = Array(0..<alone.rowCount)
            XCTAssertEqual(try part.rows(all), try alone.rows(all), hook)
        }
        XCTAssertThrowsError(try harvester(corpus, hooks: ["blocks.0.hook_mlp_out", "blocks.0.hook_mlp_out"]))
        XCTAssertThrowsError(try harvester(corpus, hooks: ["blocks.0.hook_mlp_out", "blocks.9.hook_mlp_out"]))
    }

    func testInterruptedHarvestResumesWithoutLosingOrDuplicatingRows() throws {
        let dir = try directory()
        let corpus = try corpus(in: dir)
        let whole = try harvester(corpus).run(output: dir + "/whole")
        XCTAssertEqual(whole.rows, 31 * 11)
        XCTAssertEqual(whole.shards.map(\.contexts), [3, 3, 3, 2])
        XCTAssertTrue(whole.complete)

        // Stop after two shards, leave a half-written third behind, then run again.
        let stopped = try harvester(corpus).run(output: dir + "/resumed", stopAfterShards: 2)
        XCTAssertEqual(stopped.shards.count, 2)
        XCTAssertFalse(stopped.complete)
        try Data("junk".utf8).write(to: URL(fileURLWithPath: dir + "/resumed/shard-00002.safetensors.partial"))
        let resumed = try harvester(corpus).run(output: dir + "/resumed")
        XCTAssertEqual(resumed, whole)

        let a = try HarvestedActivations(directory: dir + "/whole"), b = try HarvestedActivations(directory: dir + "/resumed")
        XCTAssertEqual(a.rowCount, 31 * 11)
        XCTAssertEqual(a.width, 64)
        XCTAssertEqual(try a.rows(Array(0..<a.rowCount)), try b.rows(Array(0..<b.rowCount)))

        // The first row is position 1 of the first context (BOS left out), as a plain forward pass gives it.
        let model = try Transformer(directory: Self.fixture, backend: CPUBackend())
        let hooks = Hooks(capture: HookFilter(["blocks.1.hook_resid_post"]))
        let firstContext = [Int32(2)] + "Paragraph 0: the quick brown fox jumps".utf8.prefix(31).map { Int32($0) }
        try model.forward(firstContext, hooks: hooks, logits: .none)
        let direct = try model.backend.read(hooks.activation("blocks.1.hook_resid_post")!)
        XCTAssertEqual(try a.rows([0, 1]), Array(direct[64..<192]))
    }

    func testShardsSplitTheCorpusBetweenWorkers() throws {
        let dir = try directory()
        let corpus = try corpus(in: dir)
        let whole = try HarvestedActivations(directory: { try harvester(corpus).run(output: dir + "/whole"); return dir + "/whole" }())
        for worker in 0..<2 { try harvester(corpus, worker: worker, workers: 2).run(output: dir + "/split") }
        let split = try HarvestedActivations(directory: dir + "/split")
        XCTAssertEqual(split.rowCount, whole.rowCount)
        // Worker 0 ran contexts 0, 2, 4, …: its first rows are context 0's, then context 2's.
        XCTAssertEqual(try split.rows(Array(0..<31)), try whole.rows(Array(0..<31)))
        XCTAssertEqual(try split.rows(Array(31..<62)), try whole.rows(Array(62..<93)))
        let tokens = { (dir: String) in try (try HarvestManifest.all(in: dir)).flatMap { folder, manifest in
            try manifest.shards.flatMap { try SafetensorsFile(path: folder + "/" + $0.file).int32s("tokens") }
        }.sorted() }
        XCTAssertEqual(try tokens(dir + "/split"), try tokens(dir + "/whole"))
    }

    func testSettingsMismatchIsRefused() throws {
        let dir = try directory()
        let corpus = try corpus(in: dir)
        try harvester(corpus).run(output: dir + "/out", stopAfterShards: 1)
        let model = try Transformer(directory: Self.fixture, backend: CPUBackend())
        let packer = ContextPacker(corpus: corpus, length: 16, bos: 2) { text in text.utf8.map { Int32($0) } }
        let other = try Harvester(model: model, modelName: "gemma2_tiny", packer: packer,
                                  options: .init(hook: "blocks.1.hook_resid_post", tokens: 31 * 11, context: 16))
        XCTAssertThrowsError(try other.run(output: dir + "/out")) { XCTAssertTrue("\($0)".contains("other settings"), "\($0)") }
    }
}

extension HarvestTests {
    /// manifest.json is read through its schema: a damaged one is refused naming the field, and a
    /// shard file must be a name inside the folder.
    func testDamagedManifestsAreRefusedNamingTheField() throws {
        let dir = try directory()
        try harvester(try corpus(in: dir)).run(output: dir + "/h")
        let path = dir + "/h/manifest.json"
        let good = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertNotNil(try HarvestManifest.load(folder: dir + "/h"))
        let cases: [(String, String, String)] = [
            ("\"rows\" : 93", "\"rows\" : -1", "rows"),
            ("\"file\" : \"shard-00000.safetensors\"", "\"file\" : \"..\\/..\\/x.safetensors\"", "shards[0].file"),
            ("\"worker\" : 0", "\"worker\" : 3", "worker"),
            ("\"width\" : 64", "\"width\" : \"64\"", "width"),
            ("\"complete\" : true", "\"complete\" : 1", "complete"),
            ("\"context\" : 32", "\"context\" : 32.0", "context"),
        ]
        for (from, to, field) in cases {
            XCTAssertTrue(good.contains(from), "the manifest holds \(from)")
            try good.replacingOccurrences(of: from, with: to).write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try HarvestManifest.load(folder: dir + "/h"), to) { error in
                XCTAssertTrue("\(error)".contains(field), "\(to): \(error)")
            }
        }
    }
}
