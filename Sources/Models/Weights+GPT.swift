import Formats
import LanternCore

/// GPT-2's and GPT-NeoX's weights, in the layout the rest of the transformer uses: q, k and v as
/// three [out, in] matrices, every projection [out, in].
///
/// Hugging Face stores them otherwise. GPT-2's projections are `Conv1D`s, stored [in, out] (the
/// transpose of `nn.Linear`), with q, k and v fused in `c_attn` [hidden, 3·hidden]; GPT-NeoX fuses
/// them in `query_key_value` [3·hidden, hidden] with the rows of each head together: [heads, 3,
/// head_dim]. Both are rearranged here once, on the host, into matrices this loader owns (a
/// checkpoint's float dtype kept). llama.cpp's converter has already done both for a GGUF file
/// (`attn_qkv` is [q; k; v], every matrix [out, in]), so a GGUF's tensors are only split, as
/// views of the mapped file, quantised ones included.
extension WeightLoader {
    /// The HF names of one family's tensors (a GGUF source serves its tensors under the same ones).
    struct GPTNames {
        let embedding, positions, finalNorm, unembedding: String
        let ln1, ln2, qkv, attnOut, mlpIn, mlpOut: String

        static let gpt2 = GPTNames(embedding: "wte", positions: "wpe", finalNorm: "ln_f", unembedding: "lm_head",
                                   ln1: "ln_1", ln2: "ln_2", qkv: "attn.c_attn", attnOut: "attn.c_proj",
                                   mlpIn: "mlp.c_fc", mlpOut: "mlp.c_proj")
        static let gptNeoX = GPTNames(embedding: "embed_in", positions: "", finalNorm: "final_layer_norm", unembedding: "embed_out",
                                      ln1: "input_layernorm", ln2: "post_attention_layernorm", qkv: "attention.query_key_value",
                                      attnOut: "attention.dense", mlpIn: "mlp.dense_h_to_4h", mlpOut: "mlp.dense_4h_to_h")
    }

    /// Whether the tensors are laid out as llama.cpp's converter writes them (see above).
    private var convertedLayout: Bool { source is GGUFWeights }

    func gptModel() throws -> ModelWeights {
        let c = config, d = c.hiddenSize
        let names = c.family == .gpt2 ? GPTNames.gpt2 : .gptNeoX
        let embedding = try load(names.embedding + ".weight", [c.vocabSize, d], why: "vocab_size, hidden size")
        let positions = c.positions == .learned
            ? try load(names.positions + ".weight", [c.contextLength, d], why: "n_positions, n_embd") : nil
        return ModelWeights(
            embedding: embedding, positionEmbedding: positions,
            blocks: try (0..<c.layerCount).map { try gptBlock($0, names) },
            finalNorm: try layerNorm(names.finalNorm),
            unembedding: c.tiedEmbeddings ? embedding
                : try load(names.unembedding + ".weight", [c.vocabSize, d], why: "vocab_size, hidden size"))
    }

    private func layerNorm(_ name: String) throws -> Norm {
        let d = config.hiddenSize
        return Norm(weight: try loadFloats(name + ".weight", [d], why: "hidden size"),
                    bias: try loadFloats(name + ".bias", [d], why: "hidden size"))
    }

    private func gptBlock(_ l: Int, _ names: GPTNames) throws -> BlockWeights {
        let c = config, d = c.hiddenSize, f = c.intermediateSize
        let p = layersName + "\(l)."
        let qkv = try fusedQKV(p + names.qkv)
        func bias(_ name: String, _ width: Int, _ why: String) throws -> Tensor {
            try loadFloats(p + name + ".bias", [width], why: why)
        }
        return BlockWeights(
            ln1: try layerNorm(p + names.ln1), ln2: try layerNorm(p + names.ln2),
            ln1Post: nil, ln2Post: nil, qNorm: nil, kNorm: nil,
            qBias: qkv.biases?[0], kBias: qkv.biases?[1], vBias: qkv.biases?[2],
            oBias: c.outputBias ? try bias(names.attnOut, d, "hidden size") : nil,
            q: qkv.weights[0], k: qkv.weights[1], v: qkv.weights[2],
            o: try projection(p + names.attnOut, out: d, in: d, why: "hidden size, hidden size"),
            gate: nil,
            up: try projection(p + names.mlpIn, out: f, in: d, why: "intermediate size, hidden size"),
            down: try projection(p + names.mlpOut, out: d, in: f, why: "hidden size, intermediate size"),
            upBias: try bias(names.mlpIn, f, "intermediate size"),
            downBias: try bias(names.mlpOut, d, "hidden size"))
    }

    /// A projection as an [out, in] weight: GPT-2's Conv1D [in, out] transposed.
    private func projection(_ name: String, out: Int, in width: Int, why: String) throws -> Tensor {
        guard config.family == .gpt2, !convertedLayout else { return try load(name + ".weight", [out, width], why: why) }
        let host = try checked(prefix + name + ".weight", [width, out], why: "Conv1D: " + why)
        return try backend.weight(try host.rearranged(rows: out, cols: width) { r, c in c * out + r })
    }

    /// q, k and v (and their biases, where the model has them) from the fused projection.
    private func fusedQKV(_ name: String) throws -> (weights: [Tensor], biases: [Tensor]?) {
        let c = config, d = c.hiddenSize, width = c.heads * c.headDim
        let full = prefix + name + ".weight"
        var host: HostTensor
        // Row r of [q; k; v] comes from which stored row (NeoX) or column (Conv1D).
        let neoX = { (r: Int) -> Int in
            let (part, h, j) = (r / width, (r % width) / c.headDim, r % c.headDim)
            return (h * 3 + part) * c.headDim + j
        }
        switch (c.family, convertedLayout) {
        case (.gpt2, false):
            let stored = try checked(full, [d, 3 * width], why: "Conv1D: hidden size, 3 × hidden size")
            host = try stored.rearranged(rows: 3 * width, cols: d) { r, col in col * 3 * width + r }
        case (.gptNeoX, false):
            let stored = try checked(full, [3 * width, d], why: "3 × hidden size, hidden size")
            host = try stored.rearranged(rows: 3 * width, cols: d) { r, col in neoX(r) * d + col }
        default:
            host = try checked(full, [3 * width, d], why: "3 × hidden size, hidden size")
        }
        let weights = try (0..<3).map { try backend.weight(try host.rows(($0 * width)..<(($0 + 1) * width))) }
        guard c.qkvBias else { return (weights, nil) }
        let stored = try checked(prefix + name + ".bias", [3 * width], why: "3 × hidden size").floats()
        let bias = c.family == .gptNeoX && !convertedLayout ? (0..<(3 * width)).map { stored[neoX($0)] } : stored
        let biases = try (0..<3).map { try backend.tensor(Array(bias[($0 * width)..<(($0 + 1) * width)]), shape: [width]) }
        return (weights, biases)
    }

    /// The source's tensor `full`, checked to have `shape`.
    private func checked(_ full: String, _ shape: [Int], why: String) throws -> HostTensor {
        let host = try source.tensor(full)
        guard host.shape == shape else {
            throw LanternError.badFile(path: source.location, field: full,
                                       problem: "shape \(host.shape) contradicts config.json, which implies \(shape) (\(why))")
        }
        return host
    }
}

extension HostTensor {
    /// Rows `range` of the matrix [shape[0], rest], sharing the bytes (whole rows of any dtype).
    func rows(_ range: Range<Int>) throws -> HostTensor {
        let width = count / max(shape[0], 1)
        guard let rowBytes = dtype.byteCount(elements: width), range.upperBound <= shape[0],
              range.upperBound * rowBytes <= bytes.count else {
            throw LanternError.badFile(path: name, field: name, problem: "rows \(range) of \(dtype) \(shape) are not whole rows of its bytes")
        }
        return HostTensor(name: name, shape: [range.count, width], dtype: dtype,
                          bytes: UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound * rowBytes)..<(range.upperBound * rowBytes)]),
                          owner: owner)
    }

    /// A new [rows, cols] matrix in this tensor's dtype whose element (r, c) is this tensor's
    /// element `from(r, c)` (a flat index): a transpose or a reordering of rows, element by element.
    /// Only float dtypes (safetensors holds no block-quantised ones).
    func rearranged(rows: Int, cols: Int, from: (Int, Int) -> Int) throws -> HostTensor {
        guard dtype.blockSize == 1, let size = dtype.byteCount(elements: 1), rows * cols == count, count * size <= bytes.count else {
            throw LanternError.badFile(path: name, field: name, problem: "\(dtype) \(shape) cannot be rearranged as [\(rows), \(cols)]")
        }
        let buffer = ByteBuffer(count: count * size)
        let src = bytes.baseAddress!, dst = buffer.storage.baseAddress!
        // Whole elements at a time (GPT-2 small has 85M of them to move): f32 as 4 bytes, f16 and bf16 as 2.
        // (A mapped file's tensor need not be aligned to its element: unaligned loads.)
        func move<T: FixedWidthInteger>(_: T.Type) {
            let d = dst.bindMemory(to: T.self, capacity: count)
            for r in 0..<rows {
                for c in 0..<cols { d[r * cols + c] = src.loadUnaligned(fromByteOffset: from(r, c) * size, as: T.self) }
            }
        }
        if size == 4 { move(UInt32.self) } else { move(UInt16.self) }
        return HostTensor(name: name, shape: [rows, cols], dtype: dtype, bytes: UnsafeRawBufferPointer(buffer.storage), owner: buffer)
    }
}

/// Bytes this process arranged (not mapped from a file), kept alive by the tensors that use them.
final class ByteBuffer: @unchecked Sendable {
    let storage: UnsafeMutableRawBufferPointer
    init(count: Int) { storage = .allocate(byteCount: max(count, 1), alignment: 64) }
    deinit { storage.deallocate() }
}
