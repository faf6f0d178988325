import Foundation
import XCTest

/// `lantern graph`, `patch sweep --approx` and `features top` on `--backend vulkan` (lavapipe in
/// CI): the same graph, attribution-patching grid and feature ranking as the CPU backend's.
extension CLITests {
    func testGraphOnVulkanIsTheCPUBackendsGraph() throws {
        if ProcessInfo.processInfo.environment["LANTERN_SKIP_VULKAN"] == "1" { throw XCTSkip("LANTERN_SKIP_VULKAN=1") }
        let dir = NSTemporaryDirectory() + "cli-graph-vulkan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = Self.fixtures.appendingPathComponent("gemma3_tiny").path
        let transcoders = Self.fixtures.appendingPathComponent("graphs/gemma3_tiny/transcoders").path
        var links: [String: [String: Double]] = [:]
        for backend in ["cpu", "vulkan"] {
            let graph = try run(["graph", "--model", model, "--backend", backend, "--token-ids", "2,165,234,93,146,71",
                                 "--transcoders", transcoders, "--out", "\(dir)/\(backend).json"])
            XCTAssertEqual(graph.status, 0, "\(backend): \(graph.err)")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(backend).json"))) as! [String: Any]
            links[backend] = Dictionary(uniqueKeysWithValues: (json["links"] as! [[String: Any]]).map {
                ("\($0["source"]!)→\($0["target"]!)", $0["weight"] as! Double)
            })
        }
        let (cpu, vulkan) = (links["cpu"]!, links["vulkan"]!)
        XCTAssertFalse(cpu.isEmpty)
        XCTAssertEqual(Set(cpu.keys), Set(vulkan.keys), "the same edges survive pruning")
        let largest = cpu.values.map(abs).max()!
        let worst = cpu.map { abs($0.value - (vulkan[$0.key] ?? .infinity)) }.max()!
        XCTAssertLessThanOrEqual(worst / largest, 1e-5, "edges within 1e-5 of the largest")
    }

    func testAttributionPatchingOnVulkanIsTheCPUBackends() throws {
        if ProcessInfo.processInfo.environment["LANTERN_SKIP_VULKAN"] == "1" { throw XCTSkip("LANTERN_SKIP_VULKAN=1") }
        var grids: [String: [[Double]]] = [:]
        for backend in ["cpu", "vulkan"] {
            let s = try json(["patch", "sweep", "--model", tinyGemma2, "--backend", backend, "--token-ids", "2,10,20,30",
                              "--source-token-ids", "2,10,77,30", "--target", "7", "--baseline", "9", "--approx",
                              "--hooks", "blocks.*.hook_resid_pre", "blocks.*.attn.hook_z", "--json"])
            grids[backend] = (s["grids"] as! [[String: Any]]).flatMap { $0["values"] as! [[Double]] }
        }
        let (cpu, vulkan) = (grids["cpu"]!, grids["vulkan"]!)
        XCTAssertEqual(cpu.count, 4 + 16)
        XCTAssertEqual(cpu.map(\.count), vulkan.map(\.count))
        for (a, b) in zip(cpu.joined(), vulkan.joined()) { XCTAssertEqual(a, b, accuracy: 1e-4) }
    }

    /// A feature scan (`features top`) on Vulkan ranks the same features with the same densities.
    func testFeatureScanOnVulkanIsTheCPUBackends() throws {
        if ProcessInfo.processInfo.environment["LANTERN_SKIP_VULKAN"] == "1" { throw XCTSkip("LANTERN_SKIP_VULKAN=1") }
        let corpus = try dashboardCorpus()
        defer { try? FileManager.default.removeItem(atPath: corpus) }
        var scans: [String: [[String: Any]]] = [:]
        for backend in ["cpu", "vulkan"] {
            let s = try json(["features", "top", "--model", tinyGemma2, "--sae", scopeSAE, "--corpus", corpus, "--byte-tokens",
                              "--context", "32", "--tokens", "128", "--by", "max", "--count", "4", "--backend", backend, "--json"])
            scans[backend] = s["features"] as? [[String: Any]]
        }
        let (cpu, vulkan) = (try XCTUnwrap(scans["cpu"]), try XCTUnwrap(scans["vulkan"]))
        XCTAssertEqual(cpu.count, 4)
        XCTAssertEqual(cpu.map { $0["feature"] as? Int }, vulkan.map { $0["feature"] as? Int })
        for (a, b) in zip(cpu, vulkan) {
            XCTAssertEqual(a["density"] as! Double, b["density"] as! Double, accuracy: 1e-9)
            XCTAssertEqual(a["max_activation"] as? Double ?? 0, b["max_activation"] as? Double ?? 0, accuracy: 1e-4)
        }
    }
}
