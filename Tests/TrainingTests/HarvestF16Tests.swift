import CPUBackend
import Formats
import LanternCore
import Models
import XCTest
@testable import Training

/// Shards stored as f16 (`harvest --dtype f16`): the rows read back are the f32 harvest's rows
/// rounded to nearest f16, a resumed run must keep the dtype, and the manifest says it.
extension HarvestTests {
    func f16Harvester(_ corpus: TextCorpus, dtype: DType) throws -> Harvester {
        let h = try harvester(corpus, hooks: ["blocks.0.ln2.hook_normalized", "blocks.1.hook_resid_post"])
        var options = h.options
        options.dtype = dtype
        return try Harvester(model: h.model, modelName: h.modelName, packer: h.packer, options: options)
    }

    func testF16ShardsHoldTheF32RowsRounded() throws {
        let dir = try directory()
        let corpus = try corpus(in: dir)
        try f16Harvester(corpus, dtype: .f32).run(output: dir + "/f32")
        try f16Harvester(corpus, dtype: .f16).run(output: dir + "/f16")
        let manifest = try XCTUnwrap(try HarvestManifest.load(folder: dir + "/f16"))
        XCTAssertEqual(manifest.dtype, "f16")
        XCTAssertEqual(try HarvestManifest.load(folder: dir + "/f32")?.dtype, nil, "an f32 harvest's manifest is as before")
        for hook in ["blocks.0.ln2.hook_normalized", "blocks.1.hook_resid_post"] {
            let exact = try HarvestedActivations(directory: dir + "/f32", hook: hook)
            let half = try HarvestedActivations(directory: dir + "/f16", hook: hook)
            XCTAssertEqual(half.rowCount, exact.rowCount)
            let all = Array(0..<exact.rowCount).reversed().map { $0 }
            let rounded = try exact.rows(all).map { Float(Float16($0)) }
            XCTAssertEqual(try half.rows(all), rounded, hook)
            XCTAssertNotEqual(rounded, try exact.rows(all), "\(hook): rounding to f16 changed something (else the test shows nothing)")
        }
        let shard = try SafetensorsFile(path: dir + "/f16/" + manifest.shards[0].file)
        XCTAssertEqual(try shard.tensor("blocks.1.hook_resid_post").dtype, .f16)
    }

    func testResumingWithAnotherDTypeIsRefused() throws {
        let dir = try directory()
        let corpus = try corpus(in: dir)
        try f16Harvester(corpus, dtype: .f16).run(output: dir + "/out", stopAfterShards: 1)
        XCTAssertThrowsError(try f16Harvester(corpus, dtype: .f32).run(output: dir + "/out")) {
            XCTAssertTrue("\($0)".contains("stored as f16, not f32"), "\($0)")
        }
        try f16Harvester(corpus, dtype: .f16).run(output: dir + "/out")
        XCTAssertEqual(try HarvestManifest.load(folder: dir + "/out")?.complete, true)
    }

    /// A manifest whose dtype is not f32 or f16, or whose shards hold another dtype than it says,
    /// is refused naming the field.
    func testF16ManifestAndShardsMustAgree() throws {
        let dir = try directory()
        let corpus = try corpus(in: dir)
        try f16Harvester(corpus, dtype: .f16).run(output: dir + "/h")
        let path = dir + "/h/manifest.json"
        let good = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(good.contains("\"dtype\" : \"f16\""), good)
        try good.replacingOccurrences(of: "\"dtype\" : \"f16\"", with: "\"dtype\" : \"bf16\"").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HarvestManifest.load(folder: dir + "/h")) { XCTAssertTrue("\($0)".contains("dtype"), "\($0)") }
        try good.replacingOccurrences(of: "\"dtype\" : \"f16\"", with: "\"dtype\" : \"f32\"").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HarvestedActivations(directory: dir + "/h", hook: "blocks.1.hook_resid_post")) {
            XCTAssertTrue("\($0)".contains("F16") || "\($0)".contains("f16"), "\($0)")
        }
    }
}
