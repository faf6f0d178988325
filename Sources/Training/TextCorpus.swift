import Foundation
import LanternCore

/// Documents from text files, in a fixed order: plain text (split at blank lines into chunks of
/// at most `chunkCharacters`, so the tokenizer never sees a whole book at once) and JSON Lines
/// (`.jsonl`, one object per line, its `text` field).
public struct TextCorpus: Sendable {
    public let files: [String]
    public var chunkCharacters = 8192

    public init(files: [String]) throws {
        guard !files.isEmpty else { throw LanternError.invalidArgument("the corpus has no files") }
        for file in files where !FileManager.default.isReadableFile(atPath: file) {
            throw LanternError.badFile(path: file, field: "file", problem: "cannot read")
        }
        self.files = files
    }

    /// Calls `body` with each document in order; `body` returns false to stop early.
    public func forEachDocument(_ body: (String) throws -> Bool) throws {
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw LanternError.badFile(path: file, field: "file", problem: "cannot read")
            }
            let text = String(decoding: data, as: UTF8.self)
            let documents = file.lowercased().hasSuffix(".jsonl") ? try jsonLines(text, file: file) : chunks(text)
            for document in documents where !document.isEmpty {
                if try !body(document) { return }
            }
        }
    }

    /// The documents of JSON Lines files with their `label` field (a string), in order: a labelled
    /// corpus for probing tasks (the default corpus labels each document with its `source`).
    public func labelledDocuments(field label: String) throws -> [(label: String, text: String)] {
        var out: [(label: String, text: String)] = []
        for file in files {
            guard file.lowercased().hasSuffix(".jsonl") else {
                throw LanternError.badFile(path: file, field: "file", problem: "a labelled corpus is JSON Lines (.jsonl) with a string 'text' and '\(label)' field on each line")
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw LanternError.badFile(path: file, field: "file", problem: "cannot read")
            }
            for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty { continue }
                guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any],
                      let text = object["text"] as? String, let value = object[label] as? String else {
                    throw LanternError.badFile(path: file, field: "line \(number + 1)", problem: "not a JSON object with string 'text' and '\(label)' fields")
                }
                if !text.isEmpty { out.append((value, text)) }
            }
        }
        return out
    }

    func jsonLines(_ text: String, file: String) throws -> [String] {
        var documents: [String] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any],
                  let document = object["text"] as? String else {
                throw LanternError.badFile(path: file, field: "line \(number + 1)", problem: "not a JSON object with a string 'text' field")
            }
            documents.append(document)
        }
        return documents
    }

    /// Paragraphs (blank-line separated) gathered into chunks of about `chunkCharacters`.
    func chunks(_ text: String) -> [String] {
        var out: [String] = [], current = ""
        for paragraph in text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n") {
            if !current.isEmpty && current.count + paragraph.count > chunkCharacters {
                out.append(current)
                current = ""
            }
            current += paragraph + "\n\n"
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}

/// Cuts the corpus's token stream into fixed-length contexts, each BOS followed by the next
/// `length − 1` tokens (documents run on from one context into the next, as SAELens packs them).
public struct ContextPacker {
    public let corpus: TextCorpus
    public let length: Int
    public let bos: Int32
    /// Text → token ids, without BOS.
    public let encode: (String) throws -> [Int32]

    public init(corpus: TextCorpus, length: Int, bos: Int32, encode: @escaping (String) throws -> [Int32]) {
        self.corpus = corpus
        self.length = length
        self.bos = bos
        self.encode = encode
    }

    /// Calls `body(index, context)` for contexts 0, 1, 2, … until it returns false or the corpus
    /// ends. The last partial context is dropped.
    public func forEachContext(_ body: (Int, [Int32]) throws -> Bool) throws {
        var pending: [Int32] = [], start = 0, index = 0
        try corpus.forEachDocument { document in
            pending.removeFirst(start)  // once per document: long documents stay linear
            start = 0
            pending += try encode(document)
            while pending.count - start >= length - 1 {
                let context = [bos] + pending[start..<(start + length - 1)]
                start += length - 1
                if try !body(index, context) { return false }
                index += 1
            }
            return true
        }
    }
}

extension ContextPacker {
    /// Batches of `size` contexts — contexts 0, stride, 2·stride, … of the corpus — after the first
    /// `skip` of those (what a resumed trainer's finished steps read); `body` returns false to stop.
    /// The last partial batch is dropped.
    public func forEachBatch(size: Int, stride: Int, skipping skip: Int, _ body: ([[Int32]]) throws -> Bool) throws {
        var batch: [[Int32]] = [], skip = skip
        try forEachContext { index, context in
            guard index % stride == 0 else { return true }
            if skip > 0 { skip -= 1; return true }
            batch.append(context)
            guard batch.count == size else { return true }
            defer { batch.removeAll() }
            return try body(batch)
        }
    }
}
