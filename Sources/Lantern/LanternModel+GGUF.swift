import Foundation

extension TokenizerVocabulary {
    /// The tokenizer a GGUF file carries in its `tokenizer.ggml.*` metadata.
    public init(gguf file: GGUFFile) throws {
        func strings(_ key: String) throws -> [String]? {
            guard let v = file[key] else { return nil }
            guard let s = v.strings else { throw LanternError.badFile(path: file.path, field: key, problem: "expected an array of strings") }
            return s
        }
        guard let tokens = try strings("tokenizer.ggml.tokens") else {
            throw LanternError.badFile(path: file.path, field: "tokenizer.ggml.tokens", problem: "missing")
        }
        try self.init(
            ggufModel: try file.string("tokenizer.ggml.model"),
            architecture: file["general.architecture"]?.string,
            pre: file["tokenizer.ggml.pre"]?.string,
            tokens: tokens,
            scores: file["tokenizer.ggml.scores"]?.floats,
            tokenTypes: file["tokenizer.ggml.token_type"]?.ints?.map { Int32(truncatingIfNeeded: $0) },
            merges: try strings("tokenizer.ggml.merges"),
            bosID: try file.optionalInt("tokenizer.ggml.bos_token_id"),
            eosID: try file.optionalInt("tokenizer.ggml.eos_token_id"),
            unknownID: try file.optionalInt("tokenizer.ggml.unknown_token_id"),
            paddingID: try file.optionalInt("tokenizer.ggml.padding_token_id"),
            addBOS: file["tokenizer.ggml.add_bos_token"]?.bool,
            addEOS: file["tokenizer.ggml.add_eos_token"]?.bool,
            addSpacePrefix: file["tokenizer.ggml.add_space_prefix"]?.bool,
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
