import Formats
import LanternCore

extension ModelConfig {
    /// The configuration of a GGUF file of architecture `gpt2` or `gptneox`, with the keys
    /// llama.cpp's converter writes: block_count, context_length, embedding_length,
    /// feed_forward_length, attention.head_count, attention.layer_norm_epsilon, and for gptneox
    /// rope.dimension_count (the rotated dimensions of each head), use_parallel_residual and
    /// optionally rope.freq_base (10 000 when absent, as llama.cpp reads it).
    ///
    /// What a GGUF does not record is taken from the checkpoints these architectures come from:
    /// GPT-2's GELU is `gelu_new` (tanh); GPT-NeoX's is the exact (erf) GELU of Pythia's
    /// `hidden_act: gelu`, as transformers computes it (llama.cpp runs its tanh form instead).
    /// The q/k/v biases are there when `blk.0.attn_qkv.bias` is.
    static func ggufGPT(_ g: GGUFFile, architecture arch: String) throws -> ModelConfig {
        let family: Family = arch == "gpt2" ? .gpt2 : .gptNeoX
        func key(_ k: String) -> String { "\(arch).\(k)" }
        func bad(_ field: String, _ problem: String) -> LanternError { .badFile(path: g.path, field: field, problem: problem) }
        let (hidden, vocab) = try ggufEmbedding(g, architecture: arch)
        func bounded(_ k: String, _ range: ClosedRange<Int>) throws -> Int {
            let value = try g.int(key(k))
            guard range.contains(value) else { throw bad(key(k), "\(value) is outside \(range.lowerBound)...\(range.upperBound)") }
            return value
        }
        let layers = try bounded("block_count", 1...Limits.layers)
        let heads = try bounded("attention.head_count", 1...Limits.heads)
        guard hidden % heads == 0 else { throw bad(key("attention.head_count"), "\(heads) does not divide embedding_length \(hidden)") }
        let headDim = hidden / heads
        var rope = RopeParams(theta: 10_000, rotaryDim: 0)
        if family == .gptNeoX {
            let rotaryDim = try g.int(key("rope.dimension_count"))
            guard rotaryDim >= 0, rotaryDim <= headDim, rotaryDim % 2 == 0 else {
                throw bad(key("rope.dimension_count"), "\(rotaryDim) must be even and at most the head size \(headDim)")
            }
            rope = RopeParams(theta: try g.optionalFloat(key("rope.freq_base")) ?? 10_000, pairing: .half, rotaryDim: rotaryDim)
        }
        func tokenID(_ k: String) throws -> Int32? {
            guard let id = try g.optionalInt(k) else { return nil }
            guard id >= 0, id < vocab else { throw bad(k, "token id \(id) is outside the vocabulary of \(vocab)") }
            return Int32(id)
        }
        let eos = try tokenID("tokenizer.ggml.eos_token_id")
        var config = ModelConfig(
            family: family, vocabSize: vocab, hiddenSize: hidden,
            intermediateSize: try g.int(key("feed_forward_length")),
            layerCount: layers, heads: heads, kvHeads: heads, headDim: headDim,
            rmsEps: try g.optionalFloat(key("attention.layer_norm_epsilon")) ?? 1e-5,
            ropeGlobal: rope, ropeLocal: rope,
            attentionScale: 1 / Float(headDim).squareRoot(),
            slidingWindow: nil, slidingLayers: Array(repeating: false, count: layers),
            attentionSoftcap: nil, finalSoftcap: nil,
            tiedEmbeddings: !g.has("output.weight"),
            activation: family == .gpt2 ? .geluTanh : .geluErf,
            contextLength: try g.optionalInt(key("context_length")) ?? (family == .gpt2 ? 1024 : 2048),
            bosToken: try tokenID("tokenizer.ggml.bos_token_id"),
            eosTokens: eos.map { [$0] } ?? [],
            padToken: try tokenID("tokenizer.ggml.padding_token_id"))
        config.positions = family == .gpt2 ? .learned : .rotary
        config.attentionBiases = g.has("blk.0.attn_qkv.bias")
        if family == .gptNeoX {
            let flag = key("use_parallel_residual")
            if let value = g[flag] {
                guard let parallel = value.bool else { throw bad(flag, "expected a bool") }
                config.parallelResidual = parallel
            } else {
                config.parallelResidual = true
            }
        }
        try config.validate(path: g.path, keys: .gguf(arch))
        return config
    }
}

extension GGUFWeights {
    /// HF name → GGUF name for GPT-2 and GPT-NeoX (`gguf`'s TensorNameMap). The loader reads the
    /// fused `attn_qkv` as llama.cpp's converter left it: [out, in], q then k then v.
    static func gptNames(_ family: Family, file: GGUFFile) -> [String: String] {
        let gpt2 = family == .gpt2
        let p = gpt2 ? "transformer." : "gpt_neox."
        var names: [String: String] = gpt2
            ? [p + "wte.weight": "token_embd.weight", p + "wpe.weight": "position_embd.weight",
               p + "ln_f.weight": "output_norm.weight", p + "ln_f.bias": "output_norm.bias", "lm_head.weight": "output.weight"]
            : [p + "embed_in.weight": "token_embd.weight", p + "final_layer_norm.weight": "output_norm.weight",
               p + "final_layer_norm.bias": "output_norm.bias", "embed_out.weight": "output.weight"]
        let modules: [(String, String)] = gpt2
            ? [("ln_1", "attn_norm"), ("attn.c_attn", "attn_qkv"), ("attn.c_proj", "attn_output"), ("ln_2", "ffn_norm"),
               ("mlp.c_fc", "ffn_up"), ("mlp.c_proj", "ffn_down")]
            : [("input_layernorm", "attn_norm"), ("attention.query_key_value", "attn_qkv"), ("attention.dense", "attn_output"),
               ("post_attention_layernorm", "ffn_norm"), ("mlp.dense_h_to_4h", "ffn_up"), ("mlp.dense_4h_to_h", "ffn_down")]
        let layers = Set(file.tensorNames.compactMap { name -> Int? in
            guard name.hasPrefix("blk.") else { return nil }
            return Int(name.dropFirst(4).prefix { $0 != "." })
        })
        for l in layers {
            for (hf, gg) in modules {
                for suffix in [".weight", ".bias"] {
                    names[p + (gpt2 ? "h." : "layers.") + "\(l).\(hf)\(suffix)"] = "blk.\(l).\(gg)\(suffix)"
                }
            }
        }
        return names.filter { file.has($0.value) }
    }
}
