/// A tokenizer's vocabulary, independent of the file it came from.
///
/// The fields mirror what a GGUF stores under `tokenizer.ggml.*`, so a GGUF reader fills it with a
/// few lines; `TokenizerVocabulary(hubTokenizerJSON:)` fills it from a Hub `tokenizer.json`.
public struct TokenizerVocabulary: Sendable, Equatable {
    /// Which algorithm the vocabulary is for (`tokenizer.ggml.model`).
    public enum Kind: String, Sendable, Equatable {
        /// SentencePiece-style BPE over pieces (Gemma, Llama 2): spaces are written `▁`, characters
        /// outside the vocabulary fall back to `<0xNN>` byte tokens. GGUF `"llama"`.
        case sentencePiece
        /// GPT-2-style byte-level BPE (SmolLM2, Qwen): text is split by a pre-tokenizer regex
        /// (`Split`), every byte is spelled as a printable character, merges by rank. GGUF `"gpt2"`.
        case byteLevelBPE
    }

    /// How a byte-level vocabulary's text is split into words before merging: GPT-2's regex, Qwen
    /// 2's (`tokenizer.ggml.pre` "qwen2"; a tokenizer.json `Split` with its pattern) or cl100k's,
    /// which Llama 3 and OLMo 2 use (pre "llama-bpe", "dbrx", …; a `Split` with its pattern).
    public enum Split: String, Sendable, Equatable {
        case gpt2, qwen2, llama3
    }

    /// What a token is (`tokenizer.ggml.token_type`; the raw values are llama.cpp's).
    public enum TokenType: Int32, Sendable, Equatable {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// How merges are recovered when a sentencePiece vocabulary lists none (GGUF stores scores only).
    public enum DerivedMergeOrder: String, Sendable, Equatable {
        /// A merge is as good as its result's score (llama.cpp; transformers for most "llama" GGUFs).
        case scores
        /// A merge is as good as its result's position in the token list, earlier first (Gemma: its
        /// scores do not follow merge order; transformers rebuilds Gemma GGUF merges this way).
        case tokenOrder
    }

    public var kind: Kind
    /// Token strings, indexed by id (`tokenizer.ggml.tokens`).
    public var tokens: [String]
    /// One score per token, or empty (`tokenizer.ggml.scores`).
    public var scores: [Float]
    /// One type per token, or empty for all normal (`tokenizer.ggml.token_type`).
    public var types: [TokenType]
    /// BPE merges as `"left right"`, best first (`tokenizer.ggml.merges`). Empty for a
    /// sentencePiece vocabulary means: derive them by `derivedMergeOrder`.
    public var merges: [String]
    public var derivedMergeOrder: DerivedMergeOrder
    public var bosID: Int32?
    public var eosID: Int32?
    public var unknownID: Int32?
    public var paddingID: Int32?
    /// Whether encoding puts BOS / EOS around the text by default.
    public var addBOS: Bool
    public var addEOS: Bool
    /// SentencePiece dummy prefix: a `▁` before the text (`tokenizer.ggml.add_space_prefix`).
    public var addSpacePrefix: Bool
    /// Set when the prefix comes from a tokenizer.json `Metaspace` pre-tokenizer (Mistral, Llama 2
    /// as transformers now saves them): no `▁` is added to text that already starts with a space,
    /// and with `.always` every piece between added tokens gets one, not just the text's start.
    public var metaspacePrefix: MetaspacePrefix?

    /// A `Metaspace` pre-tokenizer's `prepend_scheme` ("never" adds no prefix at all).
    public enum MetaspacePrefix: String, Sendable, Equatable {
        case first, always
    }
    /// Byte-level: the pre-tokenizer split.
    public var split: Split
    /// Text (between added tokens) is put in Unicode NFC first: a tokenizer.json whose normalizer
    /// says so (Qwen's); GGUF vocabularies never (llama.cpp and transformers' GGUF loader apply none).
    public var normalizesNFC: Bool
    /// Where the vocabulary came from, for error messages.
    public var source: String

    public init(
        kind: Kind, tokens: [String], scores: [Float] = [], types: [TokenType] = [], merges: [String] = [],
        derivedMergeOrder: DerivedMergeOrder = .scores, bosID: Int32? = nil, eosID: Int32? = nil,
        unknownID: Int32? = nil, paddingID: Int32? = nil, addBOS: Bool = false, addEOS: Bool = false,
        addSpacePrefix: Bool = false, metaspacePrefix: MetaspacePrefix? = nil, split: Split = .gpt2, normalizesNFC: Bool = false,
        source: String = "<memory>"
    ) {
        self.kind = kind
        self.tokens = tokens
        self.scores = scores
        self.types = types
        self.merges = merges
        self.derivedMergeOrder = derivedMergeOrder
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.metaspacePrefix = metaspacePrefix
        self.split = split
        self.normalizesNFC = normalizesNFC
        self.source = source
    }

    /// The type of token `id` (normal when no types were given).
    public func type(of id: Int) -> TokenType {
        id < types.count ? types[id] : .normal
    }
}

extension TokenizerVocabulary.Kind {
    /// The kind a GGUF `tokenizer.ggml.model` value names, or nil for one we do not handle.
    public init?(ggmlModel: String) {
        switch ggmlModel {
        case "llama": self = .sentencePiece
        case "gpt2": self = .byteLevelBPE
        default: return nil
        }
    }
}
