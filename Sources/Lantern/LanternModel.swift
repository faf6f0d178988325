import Foundation

/// A model ready to use: the transformer, its tokenizer when it has one, and where it came from.
/// This is what the CLI and the interpretability tools work with.
public final class LanternModel: @unchecked Sendable {
    public let transformer: Transformer
    public let tokenizer: Tokenizer?
    /// The path or name the model was loaded from.
    public let source: String
    /// Why a tokenizer the model came with is not used (a kind Lantern does not read, such as
    /// Unigram): the model still runs on token ids, and text is refused with this reason.
    public let tokenizerUnavailable: String?

    public init(transformer: Transformer, tokenizer: Tokenizer?, source: String, tokenizerUnavailable: String? = nil) {
        self.transformer = transformer
        self.tokenizer = tokenizer
        self.source = source
        self.tokenizerUnavailable = tokenizerUnavailable
    }

    /// The error for text given to a model without a usable tokenizer; `hint` says what to give instead.
    public func noTokenizer(_ hint: String) -> LanternError {
        let why = tokenizerUnavailable.map { " (\($0))" } ?? ""
        return LanternError.invalidArgument("\(source) has no tokenizer\(why): \(hint)")
    }

    /// What pages and reports call the model: a cached model's registry name (gemma3-270m), else
    /// the file or folder name — not this machine's path to it.
    public var displayName: String {
        if let known = ModelStore.known.first(where: { source == $0.name || source.hasSuffix("/" + $0.fileName) }) {
            return known.name
        }
        return (source as NSString).lastPathComponent
    }

    public var config: ModelConfig { transformer.config }
    public var backend: any Backend { transformer.backend }

    /// Loads a Hugging Face directory (config.json, safetensors, and tokenizer.json when present).
    public static func load(directory: String, backend: any Backend) throws -> LanternModel {
        guard FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("config.json")) else {
            throw LanternError.badFile(path: directory, field: "config.json", problem: "missing: not a Hugging Face model directory (config.json and *.safetensors), a .gguf file or a model name")
        }
        let transformer = try Transformer(directory: directory, backend: backend)
        let tokenizerPath = (directory as NSString).appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: tokenizerPath) else {
            return LanternModel(transformer: transformer, tokenizer: nil, source: directory)
        }
        do {
            let vocabulary = try TokenizerVocabulary(hubTokenizerJSON: tokenizerPath, vocabularyLimit: transformer.config.vocabSize)
            return LanternModel(transformer: transformer, tokenizer: try Tokenizer(vocabulary: vocabulary), source: directory)
        } catch LanternError.badFile(let path, "model.type", let problem) {
            // A well-formed tokenizer of a kind Lantern cannot run (Unigram, WordPiece) does not
            // stop the model: ids still work. A damaged tokenizer.json is still an error.
            return LanternModel(transformer: transformer, tokenizer: nil, source: directory,
                                tokenizerUnavailable: "\((path as NSString).lastPathComponent): model.type: \(problem)")
        }
    }

    /// Text → ids, with BOS as the model's tokenizer adds it.
    public func encode(_ text: String) throws -> [Int32] {
        guard let tokenizer else { throw noTokenizer("give token ids (--token-ids) instead of text") }
        return tokenizer.encode(text)
    }

    /// How a token shows in tables and pictures: its text, or `#id` without a tokenizer.
    public func display(_ id: Int32) -> String {
        guard let tokenizer else { return "#\(id)" }
        return tokenizer.decode([id])
    }

    /// A token as a table or a label shows it: its text with line breaks and tabs escaped.
    public func shown(_ id: Int32) -> String {
        display(id).replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
    }

    /// Ids → text (ids joined with commas without a tokenizer); `skipSpecial` drops <bos> and the like.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        guard let tokenizer else { return ids.map(String.init).joined(separator: ",") }
        return tokenizer.decode(ids, skipSpecial: skipSpecial)
    }
}
