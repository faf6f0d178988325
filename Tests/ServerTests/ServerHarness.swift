import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Lantern
import LanternServer
import Training
import XCTest

/// A `LanternServer` on an ephemeral loopback port over the tiny Gemma 2 fixture, its Gemma Scope
/// SAE and tuned lens, scanning a small text corpus read as bytes; and the built `lantern` binary
/// to compare the API's JSON with the CLI's.
class ServerTestCase: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let modelPath = fixtures.appendingPathComponent("gemma2_tiny").path
    static let saePath = fixtures.appendingPathComponent("sae/gemmascope/layer_1/width_96").path
    static let tunedPath = fixtures.appendingPathComponent("tuned_lens/gemma2_tiny").path
    /// The graph fixtures: the tiny Gemma 3 and one transcoder per layer (as the graph tests use).
    static let graphModelPath = fixtures.appendingPathComponent("gemma3_tiny").path
    static let transcodersPath = fixtures.appendingPathComponent("graphs/gemma3_tiny/transcoders").path
    static let corpusText = (0..<12).map { "Line \($0): to be, or not to be, that is the question.\n" }.joined()

    var serverTask: Task<Void, any Error>?
    var base = URL(string: "http://127.0.0.1:1")!
    var corpusPath = ""

    /// Starts the server (contexts of 32 bytes, 4 of them, as `feature --context 32 --tokens 128`);
    /// with `graphs`, over the tiny Gemma 3 and its transcoders instead (no SAE, no tuned lens).
    func startServer(limits: ServerLimits = ServerLimits(), onDemandContexts: Int = 2, repeatContexts: Int = 1, graphs: Bool = false) async throws {
        corpusPath = NSTemporaryDirectory() + "serve-corpus-\(UUID().uuidString).txt"
        try Self.corpusText.write(toFile: corpusPath, atomically: true, encoding: .utf8)
        let backend = CPUBackend()
        let model = try LanternModel.load(directory: graphs ? Self.graphModelPath : Self.modelPath, backend: backend)
        var contexts: [[Int32]] = []
        try ContextPacker(corpus: try TextCorpus(files: [corpusPath]), length: 32, bos: 2) { $0.utf8.map { Int32($0) } }
            .forEachContext { index, ids in contexts.append(ids); return index + 1 < 4 }
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.transcodersPath).sorted { SAE.layerInPath($0) ?? 0 < SAE.layerInPath($1) ?? 0 }
        let replacement = graphs ? try ReplacementModel(model: model.transformer, transcoders: try folders.map {
            try GemmaScope2.loadTranscoder(directory: Self.transcodersPath + "/" + $0, backend: backend)
        }) : nil
        let setup = ServerSetup(model: model, saes: graphs ? [] : [try SAE.load(path: Self.saePath, backend: backend)],
                                tuned: graphs ? nil : try TunedLens.load(directory: Self.tunedPath), replacement: replacement, port: 0,
                                byteTokens: true, scanContexts: Array([[[Int32]]](repeating: contexts, count: repeatContexts).joined()), onDemandContexts: onDemandContexts, limits: limits)
        let port = PortBox()
        serverTask = Task { try await LanternServer(setup).run(signals: false) { port.set($0) } }
        let deadline = Date().addingTimeInterval(60)
        // Polled with Task.sleep, not Thread.sleep: a blocked thread of the (two-thread, on two
        // cores) cooperative pool could be the one the server's task needs to bind.
        while port.value == nil && Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        // A server that does not come up is a failure, not a skip: it needs nothing the repository lacks.
        guard let bound = port.value else { throw ServerDidNotStart() }
        base = URL(string: "http://127.0.0.1:\(bound)")!
    }

    override func tearDown() async throws {
        serverTask?.cancel()
        _ = await serverTask?.result
        try? FileManager.default.removeItem(atPath: corpusPath)
    }

    /// A request's status and JSON body (a dictionary).
    func call(_ path: String, _ body: Any? = nil, raw: Data? = nil) async throws -> (status: Int, json: [String: Any]) {
        let (status, data) = try await fetch(path, body, raw: raw)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            XCTFail("\(path): not a JSON object: \(String(decoding: data.prefix(300), as: UTF8.self))")
            return (status, [:])
        }
        return (status, object)
    }

    func fetch(_ path: String, _ body: Any? = nil, raw: Data? = nil) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: path, relativeTo: base)!)
        request.timeoutInterval = 120
        if let data = try raw ?? body.map({ try JSONSerialization.data(withJSONObject: $0) }) {
            request.httpMethod = "POST"
            request.httpBody = data
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, data)
    }

    /// A TCP socket connected to the server (for requests with headers URLSession will not send).
    func connectRaw() -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(base.port!).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        XCTAssertEqual(connected, 0)
        return fd
    }

    /// A POST from a client of its own (no test case captured), for concurrent requests.
    static func post(_ base: URL, _ path: String, _ body: Data) async throws -> Data {
        var request = URLRequest(url: URL(string: path, relativeTo: base)!)
        request.timeoutInterval = 120
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((response as! HTTPURLResponse).statusCode, 200, String(decoding: data, as: UTF8.self))
        return data
    }

    /// The built `lantern` binary (beside the test bundle) run with `arguments`; its --json output.
    func cli(_ arguments: [String]) throws -> [String: Any] {
        try cli(arguments + ["--json"], json: true)
    }

    /// The JSON file `lantern` writes with `arguments` (`--out FILE` added).
    func cliFile(_ arguments: [String]) throws -> [String: Any] {
        let out = NSTemporaryDirectory() + "serve-cli-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try cli(arguments + ["--out", out], json: false)
        return (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]) ?? [:]
    }

    func cli(_ arguments: [String], json: Bool) throws -> [String: Any] {
        let data = try cliOutput(arguments)
        return json ? (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:] : [:]
    }

    /// What `lantern` writes on standard output, byte for byte (one line ending dropped).
    func cliOutput(_ arguments: [String]) throws -> Data {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.path.hasSuffix(".xctest/Contents/MacOS") { dir = dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
        let p = Process()
        p.executableURL = dir.appendingPathComponent("lantern")
        p.arguments = arguments + ["--backend", "cpu"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        _ = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "lantern \(arguments.joined(separator: " "))")
        return data.last == 0x0A ? data.dropLast() : data
    }
}

struct ServerDidNotStart: Error, CustomStringConvertible {
    var description: String { "the server did not bind a port within 60 s" }
}

final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var port: Int?
    var value: Int? { lock.lock(); defer { lock.unlock() }; return port }
    func set(_ p: Int) { lock.lock(); port = p; lock.unlock() }
}
