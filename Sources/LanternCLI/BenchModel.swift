import Foundation
import Lantern

/// A gemma-2-2b-shaped checkpoint with random bf16 weights, for end-to-end speed and memory
/// figures without the real weights (which only the Hub has). Written once into the cache.
enum BenchModel {
    nonisolated(unsafe) static let config: [String: Any] = [
        "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "vocab_size": 256000, "hidden_size": 2304,
        "intermediate_size": 9216, "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
        "head_dim": 256, "query_pre_attn_scalar": 256, "sliding_window": 4096, "attn_logit_softcapping": 50.0,
        "final_logit_softcapping": 30.0, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "max_position_embeddings": 8192,
        "hidden_activation": "gelu_pytorch_tanh", "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
        "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    ]

    static func tensors() -> [(String, [Int])] {
        let d = 2304, f = 9216, q = 8 * 256, kv = 4 * 256
        var out: [(String, [Int])] = [("model.embed_tokens.weight", [256_000, d])]
        for l in 0..<26 {
            let p = "model.layers.\(l)."
            out += [(p + "self_attn.q_proj.weight", [q, d]), (p + "self_attn.k_proj.weight", [kv, d]),
                    (p + "self_attn.v_proj.weight", [kv, d]), (p + "self_attn.o_proj.weight", [d, q]),
                    (p + "mlp.gate_proj.weight", [f, d]), (p + "mlp.up_proj.weight", [f, d]),
                    (p + "mlp.down_proj.weight", [d, f])]
            for norm in ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"] {
                out.append((p + norm + ".weight", [d]))
            }
        }
        out.append(("model.norm.weight", [d]))
        return out
    }

    /// The directory of the bench model, written first if absent.
    static func ensure(in cache: String) throws -> String {
        let dir = (cache as NSString).appendingPathComponent("bench/gemma2-2b-random-bf16")
        let weights = (dir as NSString).appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: weights) { return dir }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("config.json")))
        try writeRandom(tensors(), to: weights)
        return dir
    }

    /// Streams a safetensors file of random bf16 values in [-0.03, 0.03) (norm gains 0), through
    /// a temporary name so an interrupted run leaves nothing half-written behind.
    static func writeRandom(_ tensors: [(String, [Int])], to path: String) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, shape) in tensors {
            let bytes = shape.reduce(1, *) * 2
            header[name] = ["dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        let temp = path + ".partial"
        _ = FileManager.default.createFile(atPath: temp, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: temp) else {
            throw LanternError.badFile(path: temp, field: "file", problem: "cannot write")
        }
        var prefix = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { prefix.append(contentsOf: $0) }
        handle.write(prefix + json)

        // One 16 MiB block of random values, written at a rotating start for variety.
        let blockCount = 8 << 20
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var block = [UInt16](repeating: 0, count: blockCount * 2)
        for i in 0..<block.count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let unit = Float(state >> 40) / Float(1 << 24) * 2 - 1
            block[i] = UInt16((unit * 0.03).bitPattern >> 16)
        }
        let zeros = [UInt16](repeating: 0, count: 4096)
        let progress = Progress(total: offset, label: "writing random 2B-shaped bench model")
        var written = 0
        for (index, (_, shape)) in tensors.enumerated() {
            var left = shape.reduce(1, *)
            let isNorm = shape.count == 1
            var start = (index * 7919) % blockCount
            while left > 0 {
                let take = min(left, isNorm ? zeros.count : blockCount)
                let data = isNorm ? zeros.withUnsafeBytes { Data($0.prefix(take * 2)) }
                    : block.withUnsafeBytes { Data($0[(start * 2)..<((start + take) * 2)]) }
                handle.write(data)
                left -= take
                written += take * 2
                start = (start + 12345) % blockCount
                progress.update(written)
            }
        }
        try handle.close()
        progress.finish()
        try FileManager.default.moveItem(atPath: temp, toPath: path)
    }
}
