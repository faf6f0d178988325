import LanternCore

extension ModelConfig {
    /// Bounds on what a configuration may claim, checked before anything is sized by it. Each is
    /// far above every released model (Gemma 2 27B: hidden 4608, 46 layers, vocab 256 000), and low
    /// enough that products such as heads × head_dim × layers cannot overflow.
    public enum Limits {
        public static let vocab = 1 << 24
        public static let hidden = 1 << 17
        public static let intermediate = 1 << 20
        public static let layers = 1024
        public static let heads = 1024
        public static let headDim = 1 << 12
        public static let context = 1 << 24
    }

    /// The names a file gives the fields `validate` checks, for its messages.
    public struct FieldNames: Sendable {
        public var layers, heads, headDim, hidden, intermediate, vocab, context, window: String
        public var rmsEps, ropeTheta, ropeLocalTheta, ropeScale, attentionScalar, softcap, bos, eos, pad: String

        public static let huggingFace = FieldNames(
            layers: "num_hidden_layers", heads: "num_attention_heads", headDim: "head_dim", hidden: "hidden_size",
            intermediate: "intermediate_size", vocab: "vocab_size", context: "max_position_embeddings", window: "sliding_window",
            rmsEps: "rms_norm_eps", ropeTheta: "rope_theta", ropeLocalTheta: "rope_local_base_freq", ropeScale: "rope_scaling.factor",
            attentionScalar: "query_pre_attn_scalar", softcap: "final_logit_softcapping", bos: "bos_token_id",
            eos: "eos_token_id", pad: "pad_token_id")

        /// GGUF keys, under the architecture's prefix (`gemma3.block_count`, ...).
        public static func gguf(_ arch: String) -> FieldNames {
            FieldNames(
                layers: "\(arch).block_count", heads: "\(arch).attention.head_count", headDim: "\(arch).attention.key_length",
                hidden: "\(arch).embedding_length", intermediate: "\(arch).feed_forward_length", vocab: "token_embd.weight",
                context: "\(arch).context_length", window: "\(arch).attention.sliding_window",
                rmsEps: "\(arch).attention.layer_norm_rms_epsilon", ropeTheta: "\(arch).rope.freq_base",
                ropeLocalTheta: "\(arch).rope.local.freq_base", ropeScale: "\(arch).rope.scaling.factor",
                attentionScalar: "\(arch).attention.query_pre_attn_scalar", softcap: "\(arch).final_logit_softcapping",
                bos: "tokenizer.ggml.bos_token_id", eos: "tokenizer.ggml.eos_token_id", pad: "tokenizer.ggml.padding_token_id")
        }
    }

    /// Refuses a configuration the forward pass cannot run: sizes out of range (checked before any
    /// allocation), non-finite or non-positive epsilon, RoPE θ or scales (they would turn every
    /// activation into NaN), token ids outside the vocabulary. One line naming the file and key.
    public func validate(path: String, keys: FieldNames) throws {
        func bad(_ key: String, _ problem: String) -> LanternError { .badFile(path: path, field: key, problem: problem) }
        func check(_ value: Int, _ range: ClosedRange<Int>, _ key: String) throws {
            guard range.contains(value) else { throw bad(key, "\(value) is outside \(range.lowerBound)...\(range.upperBound)") }
        }
        try check(layerCount, 1...Limits.layers, keys.layers)
        try check(heads, 1...Limits.heads, keys.heads)
        try check(kvHeads, 1...heads, keys.heads + " (key/value heads)")
        try check(headDim, 2...Limits.headDim, keys.headDim)
        try check(hiddenSize, 1...Limits.hidden, keys.hidden)
        try check(intermediateSize, 1...Limits.intermediate, keys.intermediate)
        try check(vocabSize, 1...Limits.vocab, keys.vocab)
        try check(contextLength, 1...Limits.context, keys.context)
        if let slidingWindow { try check(slidingWindow, 1...Limits.context, keys.window) }
        guard slidingLayers.count == layerCount else {
            throw bad(keys.layers, "\(slidingLayers.count) attention kinds for \(layerCount) layers")
        }
        func positive(_ value: Float, _ key: String) throws {
            guard value.isFinite, value > 0 else { throw bad(key, "\(value) must be a finite positive number") }
        }
        try positive(rmsEps, keys.rmsEps)
        try positive(ropeGlobal.theta, keys.ropeTheta)
        try positive(ropeLocal.theta, keys.ropeLocalTheta)
        try positive(ropeGlobal.positionScale, keys.ropeScale)
        try positive(ropeLocal.positionScale, keys.ropeScale)
        try positive(attentionScale, keys.attentionScalar)
        for cap in [attentionSoftcap, finalSoftcap].compactMap({ $0 }) { try positive(cap, keys.softcap) }
        for (key, ids) in [(keys.bos, bosToken.map { [$0] } ?? []), (keys.eos, eosTokens), (keys.pad, padToken.map { [$0] } ?? [])] {
            for id in ids where id < 0 || Int(id) >= vocabSize {
                throw bad(key, "token id \(id) is outside the vocabulary of \(vocabSize)")
            }
        }
    }
}
