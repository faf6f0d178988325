import LanternCore

extension TokenizerVocabulary {
    /// A vocabulary from GGUF metadata, one argument per key, applying the defaults transformers and
    /// llama.cpp apply when a key is missing. Pass each value as read (nil when the key is absent):
    ///
    /// | argument        | GGUF key                           |
    /// |-----------------|------------------------------------|
    /// | `model`         | `tokenizer.ggml.model`             |
    /// | `architecture`  | `general.architecture`             |
    /// | `pre`           | `tokenizer.ggml.pre`               |
    /// | `tokens`        | `tokenizer.ggml.tokens`            |
    /// | `scores`        | `tokenizer.ggml.scores`            |
    /// | `tokenTypes`    | `tokenizer.ggml.token_type`        |
    /// | `merges`        | `tokenizer.ggml.merges`            |
    /// | `bosID` …       | `tokenizer.ggml.bos_token_id`, `eos_token_id`, `unknown_token_id`, `padding_token_id` |
    /// | `addBOS`        | `tokenizer.ggml.add_bos_token`     |
    /// | `addEOS`        | `tokenizer.ggml.add_eos_token`     |
    /// | `addSpacePrefix`| `tokenizer.ggml.add_space_prefix`  |
    ///
    /// Gemma (architectures `gemma`, `gemma2`, `gemma3`) stores no merges and scores that do not follow
    /// merge order, so its merges are rebuilt from token order, as transformers does.
    public init(
        ggufModel model: String, architecture: String?, pre: String? = nil, tokens: [String], scores: [Float]?, tokenTypes: [Int32]?,
        merges: [String]?, bosID: Int?, eosID: Int?, unknownID: Int?, paddingID: Int?,
        addBOS: Bool?, addEOS: Bool?, addSpacePrefix: Bool?, source: String
    ) throws {
        guard let kind = Kind(ggmlModel: model) else {
            throw LanternError.badFile(path: source, field: "tokenizer.ggml.model",
                                       problem: "\"\(model)\" tokenizers are not supported (llama, gpt2)")
        }
        if kind == .byteLevelBPE, let pre, Self.unsupportedSplits.contains(pre) {
            throw LanternError.unsupported("\(source): byte-level pre-tokenizer \"\(pre)\" (the GPT-2, Qwen 2 and cl100k splits are implemented)")
        }
        let split: Split = kind != .byteLevelBPE ? .gpt2
            : Self.qwen2Splits.contains(pre ?? "") ? .qwen2 : Self.cl100kSplits.contains(pre ?? "") ? .llama3 : .gpt2
        var types: [TokenType] = []
        if let tokenTypes {
            types.reserveCapacity(tokenTypes.count)
            for (index, raw) in tokenTypes.enumerated() {
                guard let type = TokenType(rawValue: raw) else {
                    throw LanternError.badFile(path: source, field: "tokenizer.ggml.token_type",
                                               problem: "token \(index) has unknown type \(raw)")
                }
                types.append(type)
            }
        }
        let gemma = ["gemma", "gemma2", "gemma3"].contains(architecture ?? "")
        // Checked, not dropped: an id that does not fit is an error (validate() then bounds it by the vocabulary).
        func id(_ value: Int?, _ key: String) throws -> Int32? {
            guard let value else { return nil }
            guard let id = Int32(exactly: value), id >= 0, Int(id) < tokens.count else {
                throw LanternError.badFile(path: source, field: "tokenizer.ggml.\(key)", problem: "token id \(value) is outside the vocabulary of \(tokens.count)")
            }
            return id
        }
        self.init(
            kind: kind, tokens: tokens, scores: scores ?? [], types: types, merges: merges ?? [],
            derivedMergeOrder: gemma ? .tokenOrder : .scores,
            bosID: try id(bosID, "bos_token_id"), eosID: try id(eosID, "eos_token_id"),
            unknownID: try id(unknownID, "unknown_token_id"), paddingID: try id(paddingID, "padding_token_id"),
            // llama.cpp and transformers add BOS to a SentencePiece vocabulary that does not say.
            addBOS: addBOS ?? (kind == .sentencePiece), addEOS: addEOS ?? false,
            // llama.cpp's default for SentencePiece is a dummy prefix; Gemma files say false.
            addSpacePrefix: kind == .sentencePiece && (addSpacePrefix ?? true),
            split: split, source: source)
        try validate()
    }

    /// `tokenizer.ggml.pre` values transformers splits with Qwen 2's regex.
    static let qwen2Splits: Set<String> = ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"]

    /// `tokenizer.ggml.pre` values llama.cpp splits with the cl100k regex (Llama 3; OLMo 2's
    /// files say "dbrx").
    static let cl100kSplits: Set<String> = ["llama3", "llama-v3", "llama-bpe", "dbrx", "smaug-bpe"]

    /// `tokenizer.ggml.pre` values for which llama.cpp splits text with a regex Lantern does not
    /// implement (Tekken, GPT-4o families, Qwen 3.5, and the Llama 3 relatives not checked here).
    /// Any other value but those above gets the GPT-2 split, as there.
    static let unsupportedSplits: Set<String> = [
        "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
        "tekken", "qwen35", "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2",
    ]
}
