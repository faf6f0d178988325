import Foundation
import Formats
import LanternCore

extension TokenizerVocabulary {
    /// Reads a Hugging Face `tokenizer.json` (a BPE model: Gemma's SentencePiece-style one with byte
    /// fallback, or a GPT-2-style byte-level one). BOS/EOS come from the post-processor and, when it
    /// sits beside the file, `tokenizer_config.json`.
    /// `vocabularyLimit`: the model's vocabulary size. A tokenizer reaching more than
    /// `extraTokensAllowed` ids past it is refused before its token table is allocated. A few extra
    /// are normal (Gemma 3's text models list `<image_soft_token>` at 262 144, one past the
    /// embedding); running such an id is refused later by the embedding lookup.
    public init(hubTokenizerJSON path: String, vocabularyLimit: Int? = nil) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LanternError.badFile(path: path, field: "file", problem: "cannot read it")
        }
        let configPath = URL(fileURLWithPath: path).deletingLastPathComponent()
            .appendingPathComponent("tokenizer_config.json").path
        let config = FileManager.default.contents(atPath: configPath).flatMap { try? JSONReader.parse([UInt8]($0)) }
        try self.init(hubTokenizerJSON: [UInt8](data), config: config, source: path, vocabularyLimit: vocabularyLimit)
    }

    /// Reads `tokenizer.json` bytes; `config` is the parsed `tokenizer_config.json`, if any.
    init(hubTokenizerJSON data: [UInt8], config: JSONValue?, source: String, vocabularyLimit: Int? = nil) throws {
        func bad(_ field: String, _ problem: String) -> LanternError {
            .badFile(path: source, field: field, problem: problem)
        }
        let root: JSONValue
        do {
            root = try JSONReader.parse(data)
        } catch {
            throw bad("file", "not JSON (\(error.message) at byte \(error.offset))")
        }
        guard root.members != nil else { throw bad("file", "not a JSON object") }
        guard let model = root["model"], model.members != nil else { throw bad("model", "missing") }
        let modelType = model["type"]?.string ?? "BPE"
        guard modelType == "BPE" else { throw bad("model.type", "\(modelType) models are not supported (BPE only)") }
        guard let vocab = model["vocab"]?.members else { throw bad("model.vocab", "missing or not an object") }

        var byID: [Int: String] = [:]
        for (token, value) in vocab {
            guard let id = value.int, id >= 0 else { throw bad("model.vocab", "\"\(token)\" has no valid id") }
            byID[id] = token
        }
        var addedTypes: [Int: TokenType] = [:]
        for entry in root["added_tokens"]?.array ?? [] {
            guard let id = entry["id"]?.int, id >= 0, let content = entry["content"]?.string else {
                throw bad("added_tokens", "an entry without id or content")
            }
            byID[id] = content
            addedTypes[id] = (entry["special"]?.bool ?? false) ? .control : .userDefined
        }
        guard let maxID = byID.keys.max() else { throw bad("model.vocab", "the tokenizer has no tokens") }
        guard maxID < 16_000_000 else { throw bad("model.vocab", "token id \(maxID) is implausibly large") }
        if let vocabularyLimit, maxID >= vocabularyLimit + Self.extraTokensAllowed {
            throw bad("model.vocab", "token id \(maxID) is past the model's vocabulary of \(vocabularyLimit) (vocab_size)")
        }

        let byteLevel = Self.mentions(root["pre_tokenizer"], type: "ByteLevel") || Self.mentions(root["decoder"], type: "ByteLevel")
        let kind: Kind = byteLevel ? .byteLevelBPE : .sentencePiece
        let split = byteLevel ? try Self.split(root["pre_tokenizer"], bad: bad) : .gpt2
        var tokens = [String](repeating: "", count: maxID + 1)
        var types = [TokenType](repeating: .unused, count: maxID + 1)
        for (id, token) in byID {
            tokens[id] = token
            if let type = addedTypes[id] {
                types[id] = type
            } else if kind == .sentencePiece, Tokenizer.byteTokenValue(token) != nil {
                types[id] = .byte
            } else {
                types[id] = .normal
            }
        }

        var merges: [String] = []
        if let list = model["merges"]?.array {
            merges.reserveCapacity(list.count)
            for (index, item) in list.enumerated() {
                if let text = item.string {
                    merges.append(text)
                } else if let pair = item.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string {
                    merges.append(left + " " + right)
                } else {
                    throw bad("model.merges[\(index)]", "neither \"a b\" nor [\"a\", \"b\"]")
                }
            }
        }

        func exactIndex(_ name: String) -> Int32? {
            tokens.firstIndex { $0.utf8.elementsEqual(name.utf8) }.map(Int32.init)
        }
        func idOfToken(named key: String) -> Int32? {
            guard let value = config?[key], let name = value.string ?? value["content"]?.string else { return nil }
            return exactIndex(name)
        }
        let template = try Self.template(root["post_processor"], exactIndex: exactIndex, bad: bad)
        let unknownID = model["unk_token"]?.string.flatMap(exactIndex) ?? idOfToken(named: "unk_token")
        if let unknownID, types[Int(unknownID)] == .normal { types[Int(unknownID)] = .unknown }

        self.init(
            kind: kind, tokens: tokens, scores: [], types: types, merges: merges, derivedMergeOrder: .tokenOrder,
            bosID: template.bos ?? idOfToken(named: "bos_token"), eosID: idOfToken(named: "eos_token") ?? template.eos,
            unknownID: unknownID, paddingID: idOfToken(named: "pad_token"),
            addBOS: template.bos != nil, addEOS: template.eos != nil,
            addSpacePrefix: kind == .sentencePiece && Self.prependsSpace(root["normalizer"]) || Self.prependsSpace(root["pre_tokenizer"]),
            metaspacePrefix: kind == .sentencePiece ? Self.metaspacePrefix(root["pre_tokenizer"]) : nil,
            split: split, normalizesNFC: byteLevel && Self.mentions(root["normalizer"], type: "NFC"), source: source)
        try validate()
    }

    public static let extraTokensAllowed = 1024

    /// The parts of a `Sequence` component, whichever name they go by.
    private static func parts(_ component: JSONValue) -> [JSONValue] {
        (component["pretokenizers"] ?? component["decoders"] ?? component["normalizers"] ?? component["processors"])?.array ?? []
    }

    /// Whether a component (or a `Sequence` of them) has a part of `type`.
    private static func mentions(_ component: JSONValue?, type: String) -> Bool {
        guard let component, component.members != nil else { return false }
        if component["type"]?.string == type { return true }
        return parts(component).contains { mentions($0, type: type) }
    }

    /// The split a byte-level pre-tokenizer makes: GPT-2's (the ByteLevel part's own regex) unless a
    /// `Split` says otherwise; Qwen 2's and cl100k's (Llama 3, OLMo 2) patterns are implemented, any
    /// other is refused rather than replaced by GPT-2's (it would give other ids without a word).
    private static func split(_ component: JSONValue?, bad: (String, String) -> LanternError) throws -> Split {
        var patterns: [String] = []
        func collect(_ c: JSONValue?) {
            guard let c, c.members != nil else { return }
            if c["type"]?.string == "Split" {
                patterns.append(c["pattern"]?["Regex"]?.string ?? c["pattern"]?["String"]?.string ?? "")
            }
            parts(c).forEach(collect)
        }
        collect(component)
        guard let pattern = patterns.first else { return .gpt2 }
        guard patterns.count == 1, [QwenSplit.pattern, QwenSplit.cl100kPattern].contains(pattern) else {
            throw bad("pre_tokenizer", "the Split pattern \(pattern.debugDescription) is not implemented (GPT-2's, Qwen 2's and cl100k's are)")
        }
        return pattern == QwenSplit.pattern ? .qwen2 : .llama3
    }

    /// SentencePiece's dummy prefix, as `Prepend("▁")` or a `Metaspace` that prepends.
    private static func prependsSpace(_ component: JSONValue?) -> Bool {
        guard let component, component.members != nil else { return false }
        switch component["type"]?.string {
        case "Prepend": return component["prepend"]?.string == "\u{2581}"
        case "Metaspace":
            if let scheme = component["prepend_scheme"]?.string { return scheme != "never" }
            return component["add_prefix_space"]?.bool ?? false
        default: return parts(component).contains { prependsSpace($0) }
        }
    }

    /// The prepend scheme of a `Metaspace` pre-tokenizer that prepends (older files say
    /// `add_prefix_space: true`, which is "always").
    private static func metaspacePrefix(_ component: JSONValue?) -> MetaspacePrefix? {
        guard let component, component.members != nil else { return nil }
        guard component["type"]?.string == "Metaspace" else { return parts(component).lazy.compactMap { metaspacePrefix($0) }.first }
        if let scheme = component["prepend_scheme"]?.string { return MetaspacePrefix(rawValue: scheme) }
        return component["add_prefix_space"]?.bool == true ? .always : nil
    }

    /// The special tokens a `TemplateProcessing` puts before and after a single sequence.
    private static func template(_ component: JSONValue?, exactIndex: (String) -> Int32?,
                                 bad: (String, String) -> LanternError) throws -> (bos: Int32?, eos: Int32?) {
        guard let component, component.members != nil else { return (nil, nil) }
        if let processors = component["processors"]?.array {
            var result: (bos: Int32?, eos: Int32?) = (nil, nil)
            for processor in processors {
                let part = try template(processor, exactIndex: exactIndex, bad: bad)
                result = (result.bos ?? part.bos, result.eos ?? part.eos)
            }
            return result
        }
        guard component["type"]?.string == "TemplateProcessing", let single = component["single"]?.array else {
            return (nil, nil)
        }
        func id(_ item: JSONValue) throws -> Int32? {
            guard let name = item["SpecialToken"]?["id"]?.string else { return nil }
            if let first = component["special_tokens"]?[name]?["ids"]?.array?.first {
                // Checked, not converted: an id of 2^31 would trap as an Int32.
                guard let id = first.int, let id32 = Int32(exactly: id), id32 >= 0 else {
                    throw bad("post_processor.special_tokens.\(name).ids", "\(first.summary) is not a token id")
                }
                return id32
            }
            return exactIndex(name)
        }
        guard let sequence = single.firstIndex(where: { $0["Sequence"] != nil }) else { return (nil, nil) }
        return (try single[..<sequence].compactMap(id).first, try single[(sequence + 1)...].compactMap(id).first)
    }
}
