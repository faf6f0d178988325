import Foundation

/// RMSNorm flavours: Gemma scales by `1 + w`, Llama by `w`.
public enum RMSNormForm: Sendable { case gemma, llama }

/// The two forms of GELU: the tanh approximation, 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))
/// (GPT-2's `gelu_new`, transformers' `gelu_pytorch_tanh`), and the exact one, x·Φ(x) =
/// 0.5·x·(1 + erf(x/√2)) (GPT-NeoX's `gelu`).
public enum GELUApproximation: String, Sendable { case tanh, erf }

/// How RoPE pairs the dimensions of a head: HF checkpoints rotate halves (i, i + d/2); GGUF's
/// permuted Llama q/k use neighbouring pairs (2i, 2i + 1).
public enum RopePairing: Sendable { case half, interleaved }

/// RoPE settings for one attention layer.
public struct RopeParams: Sendable, Equatable {
    public var theta: Float
    public var pairing: RopePairing
    /// Linear position scaling (HF `rope_scaling.factor` of type "linear"); 1 for none.
    public var positionScale: Float
    /// Rotated dimensions per head (all of them unless a partial rotary factor says otherwise).
    public var rotaryDim: Int

    public init(theta: Float, pairing: RopePairing = .half, positionScale: Float = 1, rotaryDim: Int) {
        self.theta = theta
        self.pairing = pairing
        self.positionScale = positionScale
        self.rotaryDim = rotaryDim
    }
}

extension RopeParams {
    /// Every backend's RoPE (forward, packed, backward) checks its input through this: `x`'s rows
    /// hold `heads` heads of `headDim`, the rotated part fits a head in whole pairs, and the first
    /// position is not negative.
    public func checkShape(_ x: Tensor, heads: Int, headDim: Int, start: Int = 0, op: String = "rope") throws {
        guard heads > 0, headDim > 0, x.width == heads * headDim, rotaryDim >= 0, rotaryDim <= headDim,
              rotaryDim % 2 == 0, start >= 0 else {
            throw LanternError.shapeMismatch(op: op, detail: "x \(x.shape) as \(heads) heads × \(headDim), rotary dim \(rotaryDim), first position \(start)")
        }
    }

    /// The frequency of dimension pair `i` of `rotaryDim`, as HF computes it (f32).
    public static func inverseFrequency(_ i: Int, rotaryDim: Int, theta: Float) -> Float {
        1 / pow(theta, Float(2 * i) / Float(rotaryDim))
    }
}

/// Shape and masking of one attention call.
public struct AttentionParams: Sendable, Equatable {
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// Multiplies q·k (Gemma: query_pre_attn_scalar^-1/2).
    public var scale: Float
    /// Gemma 2: scores become cap·tanh(s/cap) after scaling, before the mask.
    public var softcap: Float?
    /// Sliding window: query q sees key k iff k ≤ q and q − k < window.
    public var window: Int?

    public init(heads: Int, kvHeads: Int, headDim: Int, scale: Float, softcap: Float? = nil, window: Int? = nil) {
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.scale = scale
        self.softcap = softcap
        self.window = window
    }

    /// Refuses q, k, v that do not fit these heads, or a query range outside the `keyCount` keys:
    /// the one check every backend's attention makes.
    public func checkShapes(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, keyCount: Int) throws {
        guard kvHeads > 0, heads % kvHeads == 0, q.width == heads * headDim, k.width == kvHeads * headDim, v.width == k.width,
              keyCount <= k.rowCount, keyCount <= v.rowCount, queryStart + q.rowCount <= keyCount, queryStart >= 0 else {
            throw LanternError.shapeMismatch(op: "attention", detail: "q \(q.shape), k \(k.shape), v \(v.shape), queries from \(queryStart), \(keyCount) keys, \(heads)/\(kvHeads) heads × \(headDim)")
        }
    }

    /// The same for attention's backward (all of k's rows are keys), and a gradient shaped as q.
    public func checkBackwardShapes(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, gradient: Tensor) throws {
        guard kvHeads > 0, heads % kvHeads == 0, q.width == heads * headDim, k.width == kvHeads * headDim, v.shape == k.shape,
              gradient.shape == q.shape, queryStart >= 0, queryStart + q.rowCount <= k.rowCount else {
            throw LanternError.shapeMismatch(op: "attentionBackward", detail: "q \(q.shape), k \(k.shape), v \(v.shape), gradient \(gradient.shape), queries from \(queryStart), \(heads)/\(kvHeads) heads × \(headDim)")
        }
    }
}

/// The ops a transformer needs. Tensors live on the backend; the only way back to the host is
/// `read`, so a GPU backend may record many ops before anything runs. Every op returns a new f32
/// tensor and leaves its inputs alone, which is what lets hooks keep references to activations.
///
/// Shapes: activations are matrices [rows, width]; weights are HF-style [out, in].
public protocol Backend: AnyObject, Sendable {
    var name: String { get }

    // MARK: Memory
    /// Uploads f32 values.
    func tensor(_ values: [Float], shape: [Int]) throws -> Tensor
    /// Adopts weight bytes in their own dtype. The CPU backend aliases the mapped file.
    func weight(_ host: HostTensor) throws -> Tensor
    /// A zero-filled f32 tensor (KV caches).
    func zeros(shape: [Int]) throws -> Tensor
    /// A weight made from computed floats (SAE and transcoder matrices): like `tensor`, but no op
    /// writes it, so a backend may keep derived forms of it (the CPU keeps the packed panels of
    /// many-row products, as for a model's weights). Default: `tensor`.
    func weight(_ values: [Float], shape: [Int], name: String) throws -> Tensor
    /// Reads a tensor back to the host as f32; waits for pending work.
    func read(_ tensor: Tensor) throws -> [Float]
    /// Lends `body` the tensor's f32 values in host memory, valid only during the call: a backend
    /// whose tensors live in host memory lends them in place (no copy), others read a copy.
    /// Default: `read`.
    func withValues<R>(_ tensor: Tensor, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R
    /// Copies the rows of `source` into `destination` starting at row `row` (KV cache append).
    func copyRows(_ source: Tensor, into destination: Tensor, at row: Int) throws
    /// Waits until all work recorded so far has run (a no-op where ops run as they are called).
    func finish() throws

    // MARK: Ops
    /// out[i] = table[tokens[i]] · scale. Token ids are checked against the table.
    func embed(_ tokens: [Int32], table: Tensor, scale: Float) throws -> Tensor
    /// out = x · wᵀ for x [n, k] (f32) and w [m, k] (any weight dtype): [n, m].
    func matmul(_ x: Tensor, _ w: Tensor) throws -> Tensor
    /// Row-wise RMSNorm over the innermost dimension, in f32.
    func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float, form: RMSNormForm) throws -> Tensor
    /// Row-wise LayerNorm over the innermost dimension, in f32: (x − mean) / √(var + eps) · w + b,
    /// with the biased variance (as `torch.nn.LayerNorm`); weight and bias [width].
    func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) throws -> Tensor
    /// Rotates each head of x [n, heads·headDim]; row i sits at position `start + i`.
    func rope(_ x: Tensor, heads: Int, headDim: Int, start: Int, params: RopeParams) throws -> Tensor
    /// Causal attention of q [n, H·D] over the first `keyCount` rows of k, v [≥keyCount, KV·D].
    /// Query i is at position `queryStart + i`. Returns z [n, H·D] and, when asked, the
    /// probabilities [H, n, keyCount].
    func attention(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, keyCount: Int,
                   params: AttentionParams, wantPattern: Bool) throws -> (out: Tensor, pattern: Tensor?)
    /// RoPE of sequences packed as rows (`segments`: in order from row 0, covering every row): a
    /// row of segment s sits at position row − s.lowerBound. Default: `rope` per segment.
    func rope(_ x: Tensor, heads: Int, headDim: Int, segments: [Range<Int>], params: RopeParams) throws -> Tensor
    /// Causal attention of sequences packed as rows: each segment's queries see only its own rows
    /// of k and v, at positions from 0 — one op for a batch instead of one per sequence.
    /// Default: `attention` per segment (PackedSequences.swift).
    func attention(q: Tensor, k: Tensor, v: Tensor, segments: [Range<Int>], params: AttentionParams) throws -> Tensor
    /// gelu_tanh(gate) · up.
    func gegluTanh(gate: Tensor, up: Tensor) throws -> Tensor
    /// silu(gate) · up.
    func swiglu(gate: Tensor, up: Tensor) throws -> Tensor
    /// GELU of every element, ungated (GPT-2's and GPT-NeoX's MLPs).
    func gelu(_ x: Tensor, approximation: GELUApproximation) throws -> Tensor
    /// a + b; b may also be a single row [width], added to every row of a.
    func add(_ a: Tensor, _ b: Tensor) throws -> Tensor
    /// x · s.
    func scale(_ x: Tensor, by s: Float) throws -> Tensor
    /// cap · tanh(x / cap).
    func softcap(_ x: Tensor, cap: Float) throws -> Tensor
    /// The transpose of an f32 matrix x [n, m]: [m, n]. With `matmul` (x · wᵀ) it gives the other
    /// products training needs: xᵀ · y = matmul(transpose(x), transpose(y)).
    func transpose(_ x: Tensor) throws -> Tensor

    // MARK: Sparse autoencoders
    /// activation(x · encoderᵀ + bias) for x [n, d_in], encoder [d_sae, d_in] (W_enc transposed),
    /// bias [d_sae], threshold [d_sae] (JumpReLU only): [n, d_sae]. Defaults: SAEOps.swift.
    func saeEncode(_ x: Tensor, encoder: Tensor, bias: Tensor, threshold: Tensor?,
                   activation: SAEActivation) throws -> Tensor
    /// acts · decoderᵀ + bias for acts [n, d_sae], decoder [d_in, d_sae] (W_dec transposed),
    /// bias [d_in]: [n, d_in]. `rows`, when given, is W_dec itself [d_sae, d_in]: a backend may
    /// then read only the rows of the features that fire (the CPU does, for sparse acts).
    func saeDecode(_ acts: Tensor, decoder: Tensor, rows: Tensor?, bias: Tensor) throws -> Tensor
    /// Each row of logits [rows, vocab] reduced to its softmax normaliser, its `topK` largest
    /// logits and the ranks and logits of `tokens` (`LogitRowSummary`): what the lens reads,
    /// without the rows leaving the device. Default: on the host (`hostLogitSummaries`).
    func logitSummaries(_ logits: Tensor, topK: Int, tokens: [Int32]) throws -> [LogitRowSummary]
    /// The same with one asked token per row: row r's summary holds the rank and logit of
    /// `rowTokens[r]` (a next-token loss asks each row for its own target).
    func logitSummaries(_ logits: Tensor, topK: Int, rowTokens: [Int32]) throws -> [LogitRowSummary]
    /// The positive entries of each row of x [n, width], in index order: SAE and transcoder
    /// activations read back without their zeros. `expected` bounds how many a row usually holds
    /// (TopK's k); a device sizes its buffer by it and reads a row that holds more whole.
    /// Default: on the host (`hostPositiveEntries`).
    func positiveEntries(_ x: Tensor, expected: Int) throws -> SparseRows
    /// The largest tensor this backend can hold in one buffer, in bytes: what code that makes
    /// large results in slices (rows of logits) sizes them by. Default: no limit.
    var largestTensorBytes: Int { get }
}

extension Backend {
    public func finish() throws {}

    public func logitSummaries(_ logits: Tensor, topK: Int, tokens: [Int32]) throws -> [LogitRowSummary] {
        try hostLogitSummaries(logits, topK: topK, tokens: tokens)
    }

    public func logitSummaries(_ logits: Tensor, topK: Int, rowTokens: [Int32]) throws -> [LogitRowSummary] {
        try hostLogitSummaries(logits, topK: topK, rowTokens: rowTokens)
    }

    public func positiveEntries(_ x: Tensor, expected: Int) throws -> SparseRows {
        try hostPositiveEntries(x)
    }

    public var largestTensorBytes: Int { Int.max }

    /// The rows of `parts` (each `width` wide) stacked in order into one tensor, copied where they
    /// lie (`copyRows`): on a device they never visit the host.
    public func stackRows(_ parts: [Tensor], width: Int) throws -> Tensor {
        let out = try zeros(shape: [parts.reduce(0) { $0 + $1.rowCount }, width])
        var row = 0
        for part in parts {
            try copyRows(part, into: out, at: row)
            row += part.rowCount
        }
        return out
    }

    /// Rows of `width` f32 values that fit in one tensor, at most `budget` elements in all
    /// (at least one row).
    public func rowsPerSlice(width: Int, budget: Int) -> Int {
        max(1, min(budget, largestTensorBytes / 4) / max(width, 1))
    }

    public func withValues<R>(_ tensor: Tensor, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        try read(tensor).withUnsafeBufferPointer(body)
    }

    public func weight(_ values: [Float], shape: [Int], name: String) throws -> Tensor {
        try tensor(values, shape: shape)
    }

    /// A host round trip, for backends without a transpose kernel of their own.
    public func transpose(_ x: Tensor) throws -> Tensor {
        guard x.rank == 2 else { throw LanternError.shapeMismatch(op: "transpose", detail: "\(x.shape) is not a matrix") }
        let n = x.shape[0], m = x.shape[1]
        let values = try read(x)
        var out = [Float](repeating: 0, count: values.count)
        for i in 0..<n { for j in 0..<m { out[j * n + i] = values[i * m + j] } }
        return try tensor(out, shape: [m, n])
    }

    /// Uploads f32 values shaped as a matrix.
    public func matrix(_ values: [Float], rows: Int, cols: Int) throws -> Tensor {
        try tensor(values, shape: [rows, cols])
    }
}
