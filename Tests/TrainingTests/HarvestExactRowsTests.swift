import CPUBackend
import Models
import XCTest
@testable import Training

/// `harvest --tokens N` writes exactly N rows — the last context is cut short — alone or split
/// over workers (16,000 asked once gave 16,002 written).
final class HarvestExactRowsTests: XCTestCase {
    func testHarvestWritesExactlyTheRowsAskedFor() throws {
        let dir = NSTemporaryDirectory() + "harvest-exact-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = (0..<40).map { "Paragraph \($0): the quick brown fox jumps over the lazy dog.\n\n" }.joined()
        try text.write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
        let corpus = try TextCorpus(files: [dir + "/a.txt"])
        let model = try Transformer(directory: HarvestTests.fixture, backend: CPUBackend())
        func harvest(_ output: String, worker: Int = 0, workers: Int = 1) throws -> HarvestManifest {
            let packer = ContextPacker(corpus: corpus, length: 32, bos: 2) { $0.utf8.map { Int32($0) } }
            return try Harvester(model: model, modelName: "tiny", packer: packer,
                                 options: .init(hook: "blocks.1.hook_resid_post", tokens: 31 * 10 + 7, context: 32,
                                                contextsPerShard: 3, worker: worker, workers: workers)).run(output: output)
        }
        let whole = try harvest(dir + "/whole")
        XCTAssertEqual(whole.rows, 317)
        XCTAssertEqual(whole.shards.map(\.rows), [93, 93, 93, 38])
        let all = try HarvestedActivations(directory: dir + "/whole")
        // The cut context keeps its first rows: the same values an uncut harvest has there.
        let uncut = try Harvester(model: model, modelName: "tiny",
                                  packer: ContextPacker(corpus: corpus, length: 32, bos: 2) { $0.utf8.map { Int32($0) } },
                                  options: .init(hook: "blocks.1.hook_resid_post", tokens: 31 * 11, context: 32, contextsPerShard: 3))
        try uncut.run(output: dir + "/uncut")
        let reference = try HarvestedActivations(directory: dir + "/uncut")
        XCTAssertEqual(try all.rows(Array(0..<317)), try reference.rows(Array(0..<317)))

        for worker in 0..<2 { _ = try harvest(dir + "/split", worker: worker, workers: 2) }
        XCTAssertEqual(try HarvestedActivations(directory: dir + "/split").rowCount, 317)
    }
}
