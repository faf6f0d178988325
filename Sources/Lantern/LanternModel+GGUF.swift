import Foundation

extension TokenizerVocabulary {
    /// The tokenizer a GGUF file carries in its `tokenizer.ggml.*` metadata.
    public init(gguf file: GGUFFile) throws {
        func strings(_ key: String) throws -> [String]? {
            guard let v = file[key] else { return nil }
            guard let s = v.strings else { throw LanternError.badFile(path: file.path, field: key, problem: "expected an array of strings") }
            return s
        }
        func typed<T>(_ key: String, _ what: String, _ read: (GGUFValue) -> T?) throws -> T? {
            guard let v = file[key] else { return nil }
            guard let t = read(v) else { throw LanternError.badFile(path: file.path, field: key, problem: "expected \(what)") }
            return t
        }
        guard let tokens = try strings("tokenizer.ggml.tokens") else {
            throw LanternError.badFile(path: file.path, field: "tokenizer.ggml.tokens", problem: "missing")
        }
        try self.init(
            ggufModel: try file.string("tokenizer.ggml.model"),
            architecture: file["general.architecture"]?.string,
            pre: try typed("tokenizer.ggml.pre", "a string") { $0.string },
            tokens: tokens,
            scores: try typed("tokenizer.ggml.scores", "an array of floats") { $0.floats },
            // Clamped, not truncated: a type of 2^32 + 1 must not read as 1 (validation refuses it).
            tokenTypes: try typed("tokenizer.ggml.token_type", "an array of integers") { $0.ints }?.map { Int32(clamping: $0) },
            merges: try strings("tokenizer.ggml.merges"),
            bosID: try file.optionalInt("tokenizer.ggml.bos_token_id"),
            eosID: try file.optionalInt("tokenizer.ggml.eos_token_id"),
            unknownID: try file.optionalInt("tokenizer.ggml.unknown_token_id"),
            paddingID: try file.optionalInt("tokenizer.ggml.padding_token_id"),
            addBOS: try typed("tokenizer.ggml.add_bos_token", "a bool") { $0.bool },
            addEOS: try typed("tokenizer.ggml.add_eos_token", "a bool") { $0.bool },
            addSpacePrefix: try typed("tokenizer.ggml.add_space_prefix", "a bool") { $0.bool },
            source: file.path)
    }
}

extension LanternModel {
    /// Loads a GGUF file: configuration from its metadata, weights aliased (still quantised) from
    /// the mapped file, and its tokenizer when it has one.
    public static func load(gguf path: String, backend: any Backend) throws -> LanternModel {
        let file = try GGUFFile(path: path)
        let config = try ModelConfig.gguf(file)
        let transformer = try Transformer(config: config, weights: try GGUFWeights(file: file, family: config.family), backend: backend)
        // A GGUF's token list and embedding describe one vocabulary: llama.cpp refuses a mismatch too.
        if file["tokenizer.ggml.model"] != nil, let count = file["tokenizer.ggml.tokens"]?.array?.count, count != config.vocabSize {
            throw LanternError.badFile(path: path, field: "tokenizer.ggml.tokens",
                                       problem: "\(count) tokens, but token_embd.weight has \(config.vocabSize) rows")
        }
        let tokenizer = file["tokenizer.ggml.model"] == nil ? nil : try Tokenizer(vocabulary: TokenizerVocabulary(gguf: file))
        return LanternModel(transformer: transformer, tokenizer: tokenizer, source: path)
    }

    public static func load(_ location: ModelLocation, backend: any Backend) throws -> LanternModel {
        switch location {
        case let .directory(path): try load(directory: path, backend: backend)
        case let .gguf(path): try load(gguf: path, backend: backend)
        }
    }

    /// What `--model` names (nil: the default model, fetched into the cache on first use).
    public static func load(model spec: String?, backend: any Backend, store: ModelStore = ModelStore(),
                            progress: @escaping @Sendable (String) -> Void = { _ in }) throws -> LanternModel {
        try load(try store.resolve(spec, progress: progress), backend: backend)
    }
}
