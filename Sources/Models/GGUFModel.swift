import Formats
import LanternCore

extension ModelConfig {
    /// The configuration a GGUF file's metadata describes (architectures gemma3, gemma2, llama,
    /// qwen2, qwen3, olmo2; llama.cpp writes Mistral as llama; gpt2 and gptneox: `ggufGPT`).
    ///
    /// Conventions GGUF does not spell out: Gemma 3 files may omit the local RoPE θ (10 000), the
    /// sliding pattern (every 6th layer global) and query_pre_attn_scalar (head_dim); Gemma 2
    /// files may omit the softcaps (50, 30); Llama files
    /// store q/k permuted so RoPE pairs neighbouring dimensions (`.interleaved`), while llama.cpp
    /// rotates halves (NEOX) for Qwen 2, Qwen 3 and OLMo 2 and leaves their q/k as they are; a
    /// model without `output.weight` ties its unembedding to the embedding.
    ///
    /// Sliding windows: llama.cpp's converter writes none for Mistral (and llama.cpp runs such a
    /// file with full attention); a llama file that does carry `llama.attention.sliding_window`
    /// gets it on every layer, as Mistral's config means it. Qwen files' windows are ignored, as
    /// llama.cpp ignores them; an OLMo 2 file with one (OLMo 3's layout) is refused.
    public static func gguf(_ g: GGUFFile) throws -> ModelConfig {
        let arch = try g.string("general.architecture")
        let family: Family
        switch arch {
        case "gemma3": family = .gemma3
        case "gemma2": family = .gemma2
        case "llama": family = .llama
        case "qwen2": family = .qwen2
        case "qwen3": family = .qwen3
        case "olmo2": family = .olmo2
        case "gpt2", "gptneox": return try ggufGPT(g, architecture: arch)
        default:
            throw LanternError.badFile(path: g.path, field: "general.architecture",
                                       problem: "'\(arch)' is not supported (gemma3, gemma2, llama, qwen2, qwen3, olmo2, gpt2, gptneox)")
        }
        func key(_ k: String) -> String { "\(arch).\(k)" }
        func bad(_ field: String, _ problem: String) -> LanternError { .badFile(path: g.path, field: field, problem: problem) }

        let (hidden, vocab) = try ggufEmbedding(g, architecture: arch)
        if let declared = try g.optionalInt(key("vocab_size")), declared != vocab {
            throw bad(key("vocab_size"), "\(declared) contradicts token_embd.weight's \(vocab) rows")
        }
        // Counts are range-checked here, before anything (per-layer tables, divisions) uses them.
        func bounded(_ k: String, _ value: Int, _ range: ClosedRange<Int>) throws -> Int {
            guard range.contains(value) else { throw bad(key(k), "\(value) is outside \(range.lowerBound)...\(range.upperBound)") }
            return value
        }
        let layers = try bounded("block_count", try g.int(key("block_count")), 1...Limits.layers)
        let heads = try bounded("attention.head_count", try g.int(key("attention.head_count")), 1...Limits.heads)
        let kvHeads = try bounded("attention.head_count_kv", try g.optionalInt(key("attention.head_count_kv")) ?? heads, 1...Limits.heads)
        guard heads % kvHeads == 0 else {
            throw bad(key("attention.head_count_kv"), "\(kvHeads) does not divide attention.head_count \(heads)")
        }
        let headDim = try g.optionalInt(key("attention.key_length")) ?? hidden / heads
        guard headDim > 0, headDim % 2 == 0 else { throw bad(key("attention.key_length"), "\(headDim) must be a positive even number") }

        let theta = try g.optionalFloat(key("rope.freq_base")) ?? 10_000
        let rotaryDim = try g.optionalInt(key("rope.dimension_count")) ?? headDim
        guard rotaryDim > 0, rotaryDim <= headDim, rotaryDim % 2 == 0 else {
            throw bad(key("rope.dimension_count"), "\(rotaryDim) must be even and at most the head size \(headDim)")
        }
        var positionScale: Float = 1
        if let type = g[key("rope.scaling.type")]?.string, type != "none" {
            guard type == "linear" else { throw bad(key("rope.scaling.type"), "'\(type)' is not supported (none, linear)") }
            positionScale = try g.optionalFloat(key("rope.scaling.factor")) ?? 1
        }
        let pairing: RopePairing = family == .llama ? .interleaved : .half
        let ropeGlobal = RopeParams(theta: theta, pairing: pairing, positionScale: positionScale, rotaryDim: rotaryDim)
        var ropeLocal = ropeGlobal
        if family == .gemma3 {
            ropeLocal = RopeParams(theta: try g.optionalFloat(key("rope.local.freq_base")) ?? 10_000, rotaryDim: rotaryDim)
        }

        // llama.cpp writes a window of 0 to mean none; Gemma files have always had a real one.
        let written = try g.optionalInt(key("attention.sliding_window"))
        let window = family.isGemma ? written : written.flatMap { $0 == 0 ? nil : $0 }
        var sliding: [Bool]
        switch family {
        case .gemma3:
            let pattern = try bounded("attention.sliding_window_pattern", try g.optionalInt(key("attention.sliding_window_pattern")) ?? 6,
                                      1...Limits.layers)
            sliding = (0..<layers).map { ($0 + 1) % pattern != 0 }
        case .gemma2: sliding = (0..<layers).map { $0 % 2 == 0 }
        case .llama, .mistral: sliding = Array(repeating: true, count: layers)
        case .qwen2, .qwen3, .gpt2, .gptNeoX: sliding = Array(repeating: false, count: layers)
        case .olmo2:
            if let window {
                throw bad(key("attention.sliding_window"), "\(window): OLMo 2 has no sliding window (OLMo 3's sliding layers are not supported)")
            }
            sliding = Array(repeating: false, count: layers)
        }
        if window == nil { sliding = sliding.map { _ in false } }

        // Gemma 2 27B scales by hidden/heads (144), not head_dim (128): llama.cpp's rule, and HF's config.
        let defaultScalar = family == .gemma2 && layers == 46 ? Float(hidden / heads) : Float(headDim)
        let scalar = try g.optionalFloat(key("attention.query_pre_attn_scalar")) ?? defaultScalar
        // Gemma 2's softcaps default to 50 and 30 when the file omits them, as in llama.cpp.
        func softcap(_ k: String, default value: Float) throws -> Float? {
            guard family == .gemma2 else { return nil }
            let v = try g.optionalFloat(key(k)) ?? value
            guard v.isFinite else { throw bad(key(k), "\(v) is not a finite number") }
            // 0 means no softcap; a negative cap is no cap anyone writes (tanh(x/c)·c is even in c),
            // so it is a damaged file, not a setting.
            guard v >= 0 else { throw bad(key(k), "\(v): expected a positive softcap, or 0 for none") }
            return v > 0 ? v : nil
        }
        // Token ids are checked against the vocabulary before they become Int32s (2^31 would trap).
        func tokenID(_ k: String) throws -> Int32? {
            guard let id = try g.optionalInt(k) else { return nil }
            guard id >= 0, id < vocab else { throw bad(k, "token id \(id) is outside the vocabulary of \(vocab)") }
            return Int32(id)
        }
        let eos = try tokenID("tokenizer.ggml.eos_token_id")
        let config = ModelConfig(
            family: family,
            vocabSize: vocab,
            hiddenSize: hidden,
            intermediateSize: try g.int(key("feed_forward_length")),
            layerCount: layers,
            heads: heads,
            kvHeads: kvHeads,
            headDim: headDim,
            rmsEps: try g.optionalFloat(key("attention.layer_norm_rms_epsilon")) ?? 1e-6,
            ropeGlobal: ropeGlobal,
            ropeLocal: ropeLocal,
            attentionScale: 1 / scalar.squareRoot(),
            slidingWindow: window,
            slidingLayers: sliding,
            attentionSoftcap: try softcap("attn_logit_softcapping", default: 50),
            finalSoftcap: try softcap("final_logit_softcapping", default: 30),
            tiedEmbeddings: !g.has("output.weight"),
            activation: family.isGemma ? .geluTanh : .silu,
            contextLength: try g.optionalInt(key("context_length")) ?? 8192,
            bosToken: try tokenID("tokenizer.ggml.bos_token_id"),
            eosTokens: eos.map { [$0] } ?? [],
            padToken: try tokenID("tokenizer.ggml.padding_token_id")
        )
        try config.validate(path: g.path, keys: .gguf(arch))
        return config
    }
}

/// A GGUF file's tensors under the Hugging Face names the transformer asks for, in HF's row-major
/// [out, in] shapes (GGUF's `ne` reversed). Weights alias the mapped file in their stored
/// (possibly quantised) dtype.
///
/// Names are llama.cpp's (`gguf` package, `MODEL_TENSORS`): `blk.N.attn_q.weight`, Qwen 2's biases
/// `blk.N.attn_q.bias`; the block norms are named by what they do there — `attn_norm` and
/// `ffn_norm` read a branch's input, `post_attention_norm` and `post_ffw_norm` its output — and so
/// map to different HF names by family.
///
/// Gemma GGUFs store RMSNorm gains as `1 + w` (llama.cpp's converter adds the 1), while the
/// transformer's Gemma norm adds 1 itself; so this source serves Gemma norms as `stored − 1` in a
/// small f32 buffer it owns, the same arithmetic transformers' GGUF loader does.
public final class GGUFWeights: WeightSource, @unchecked Sendable {
    public let file: GGUFFile
    public let family: Family
    /// HF name → GGUF name, for every tensor the file has.
    let names: [String: String]
    private let shiftedNorms: [String: FloatBuffer]

    public init(file: GGUFFile, family: Family) throws {
        self.file = file
        self.family = family
        var names: [String: String] = [
            "model.embed_tokens.weight": "token_embd.weight",
            "model.norm.weight": "output_norm.weight",
            "lm_head.weight": "output.weight",
        ]
        if family.isGPT {
            self.names = Self.gptNames(family, file: file)
            shiftedNorms = [:]
            return
        }
        let norms: [(String, String)]
        switch family {
        case .gemma2, .gemma3:
            norms = [("input_layernorm", "attn_norm"), ("post_attention_layernorm", "post_attention_norm"),
                     ("pre_feedforward_layernorm", "ffn_norm"), ("post_feedforward_layernorm", "post_ffw_norm")]
        case .olmo2:
            norms = [("post_attention_layernorm", "post_attention_norm"), ("post_feedforward_layernorm", "post_ffw_norm")]
        case .llama, .mistral, .qwen2, .qwen3, .gpt2, .gptNeoX:
            norms = [("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm")]
        }
        let modules: [(String, String)] = [
            ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
            ("self_attn.o_proj", "attn_output"),
            ("self_attn.q_norm", "attn_q_norm"), ("self_attn.k_norm", "attn_k_norm"),
            ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"), ("mlp.down_proj", "ffn_down"),
        ]
        var perLayer: [(hf: String, gguf: String)] = []
        for (hf, gg) in norms + modules {
            for suffix in [".weight", ".bias"] { perLayer.append((hf + suffix, gg + suffix)) }
        }
        let layers = Set(file.tensorNames.compactMap { name -> Int? in
            guard name.hasPrefix("blk.") else { return nil }
            return Int(name.dropFirst(4).prefix { $0 != "." })
        })
        for l in layers {
            for (hf, gg) in perLayer { names["model.layers.\(l).\(hf)"] = "blk.\(l).\(gg)" }
        }
        self.names = names.filter { file.has($0.value) }

        var shifted: [String: FloatBuffer] = [:]
        if family.isGemma {
            for gg in self.names.values where gg.hasSuffix("norm.weight") {
                let t = try file.tensor(gg)
                shifted[gg] = FloatBuffer(try t.floats().map { $0 - 1 })
            }
        }
        shiftedNorms = shifted
    }

    public var location: String { file.path }
    public var tensorNames: [String] { names.keys.sorted() }
    public func has(_ name: String) -> Bool { names[name] != nil }

    public func tensor(_ name: String) throws -> HostTensor {
        guard let gg = names[name] else {
            throw LanternError.badFile(path: file.path, field: name, problem: "tensor is missing (no GGUF tensor maps to it)")
        }
        let t = try file.tensor(gg)
        if let buffer = shiftedNorms[gg] {
            return HostTensor(name: name, shape: t.shape, dtype: .f32, bytes: buffer.bytes, owner: buffer)
        }
        return HostTensor(name: name, shape: t.shape, dtype: t.dtype, bytes: t.bytes, owner: t.owner)
    }
}

/// Floats this process computed (not mapped from a file), kept alive by the tensors that use them.
final class FloatBuffer: @unchecked Sendable {
    private let storage: UnsafeMutableBufferPointer<Float>
    private let count: Int
    init(_ values: [Float]) {
        count = values.count
        storage = .allocate(capacity: max(values.count, 1))
        _ = storage.initialize(from: values)
    }
    deinit { storage.deallocate() }
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage.baseAddress, count: count * 4) }
}

extension Transformer {
    /// Loads a GGUF model: configuration from its metadata, weights aliased from the mapped file.
    public convenience init(gguf path: String, backend: any Backend) throws {
        let file = try GGUFFile(path: path)
        let config = try ModelConfig.gguf(file)
        try self.init(config: config, weights: try GGUFWeights(file: file, family: config.family), backend: backend)
    }
}

extension Transformer {
    /// Loads what `ModelStore.resolve` found: a Hugging Face directory or a GGUF file.
    public convenience init(_ location: ModelLocation, backend: any Backend) throws {
        switch location {
        case let .directory(path): try self.init(directory: path, backend: backend)
        case let .gguf(path): try self.init(gguf: path, backend: backend)
        }
    }
}

extension ModelConfig {
    /// The hidden size and vocabulary of any architecture's GGUF: `token_embd.weight` [vocab,
    /// hidden] as ggml orders it, its width checked against `{arch}.embedding_length`.
    static func ggufEmbedding(_ g: GGUFFile, architecture arch: String) throws -> (hidden: Int, vocab: Int) {
        guard let embd = g.info("token_embd.weight"), embd.ne.count == 2 else {
            throw LanternError.badFile(path: g.path, field: "token_embd.weight", problem: "missing or not a matrix")
        }
        let hidden = try g.int("\(arch).embedding_length")
        guard embd.ne[0] == hidden else {
            throw LanternError.badFile(path: g.path, field: "token_embd.weight",
                                       problem: "rows of \(embd.ne[0]) contradict \(arch).embedding_length = \(hidden)")
        }
        return (hidden, embd.ne[1])
    }
}
