import Foundation
import Formats
import LanternCore

/// Which rows of logits a forward pass computes: all (tracing, scoring) or only the last
/// (generation, where unembedding every row would dominate the time). `finalNormed` returns the
/// final-normed rows [n, hidden] instead of logits, for callers that stream the unembedding in
/// slices of the vocabulary (a cross-entropy needs one logsumexp per row, not the logits).
public enum LogitRows: Sendable { case all, last, none, finalNormed }

/// A decoder-only transformer of the Gemma 2 / Gemma 3 / Llama / Mistral / Qwen 2 / Qwen 3 / OLMo 2
/// / GPT-2 / GPT-NeoX families, run on any backend.
///
/// One block, as in the papers:
///     h = x + PostNorm(Attention(Norm(x)))
///     y = h + PostNorm(MLP(Norm(h)))
/// where Norm is absent in OLMo 2, a LayerNorm in GPT-2 and GPT-NeoX and an RMSNorm elsewhere, and
/// PostNorm present only in Gemma (its sandwich norms) and OLMo 2; attention may add biases to q,
/// k, v (Qwen 2; and to its output in the GPT families) and normalise q and k before RoPE (Gemma 3,
/// Qwen 3 per head, OLMo 2 over the whole projection). GPT-NeoX's parallel blocks compute
/// y = x + Attention(Norm(x)) + MLP(Norm(x)); GPT-2 adds a learned position embedding to the token
/// embedding instead of rotating q and k. Every intermediate activation passes through a named
/// hook point.
public final class Transformer: @unchecked Sendable {
    public let config: ModelConfig
    public let backend: any Backend
    let embedding: Tensor
    /// GPT-2's learned position embedding (nil where RoPE places the tokens).
    let positionEmbedding: Tensor?
    let blocks: [BlockWeights]
    let finalNorm: Norm
    let unembedding: Tensor
    let names: [BlockHookNames]

    public init(config: ModelConfig, weights: any WeightSource, backend: any Backend) throws {
        self.config = config
        self.backend = backend
        let model = try WeightLoader(source: weights, config: config, backend: backend).model()
        embedding = model.embedding
        positionEmbedding = model.positionEmbedding
        blocks = model.blocks
        finalNorm = model.finalNorm
        unembedding = model.unembedding
        names = (0..<config.layerCount).map(BlockHookNames.init)
    }

    /// Loads a Hugging Face model directory (config.json + safetensors).
    public convenience init(directory: String, backend: any Backend) throws {
        let config = try ModelConfig.load(path: (directory as NSString).appendingPathComponent("config.json"))
        try self.init(config: config, weights: try Checkpoint(directory: directory), backend: backend)
    }

    /// Runs `tokens` through the model. With a cache, they continue the cached sequence and their
    /// keys and values are appended to it. Returns logits for the rows `logits` asks for.
    /// `stopAfterLayer` ends the pass after that block (hooks up to it run; no logits, no cache):
    /// activation harvesting needs nothing past its hook.
    @discardableResult
    public func forward(_ tokens: [Int32], cache: KVCache? = nil, hooks: Hooks? = nil,
                        logits: LogitRows = .all, stopAfterLayer: Int? = nil) throws -> Tensor? {
        let c = config, b = backend
        let n = tokens.count
        let start = cache?.length ?? 0
        guard n > 0 else { throw LanternError.invalidArgument("no tokens to run") }
        guard start + n <= c.contextLength else {
            throw LanternError.invalidArgument("\(start + n) tokens exceed the model's context of \(c.contextLength)")
        }
        if stopAfterLayer != nil && (cache != nil || logits != .none) {
            throw LanternError.invalidArgument("stopping after a layer leaves no logits and no cache")
        }
        if let cache, start + n > cache.capacity {
            throw LanternError.invalidArgument("\(start + n) tokens exceed the KV cache's capacity of \(cache.capacity)")
        }
        let positions = start..<(start + n)
        let sequence = hooks.map { SequenceHooks(hooks: $0, positions: positions, backend: b) }
        func hook(_ name: String, _ x: Tensor, _ layer: Int?) throws -> Tensor {
            try sequence?(name, x, layer) ?? x
        }
        func norm(_ x: Tensor, _ weights: Norm, scale: String, normalized: String, _ layer: Int?) throws -> Tensor {
            try self.norm(x, weights, scale: scale, normalized: normalized, layer: layer, hooks: sequence)
        }

        var embedded: Tensor?
        var x = try embed(tokens, positions: positions) { name, t in
            let seen = try hook(name, t, nil)
            if name == HookNames.embed { embedded = seen }
            return seen
        }
        // NaN/±∞ are caught at the block that makes them (see FiniteChecking), on backends where a
        // check costs a scan of host memory; the others are checked where their logits are read.
        let finite = b as? FiniteChecking
        for (l, w) in blocks.enumerated() {
            let names = self.names[l]
            x = try hook(names.residPre, x, l)
            let residPre = x

            // Attention (OLMo 2 has no input norm: its branches read the residual as it is).
            let h = try w.ln1.map { try norm(x, $0, scale: names.ln1Scale, normalized: names.ln1, l) } ?? x
            let qkv = try attentionInputs(h, layer: l) { try hook($0, $1, l) }
            var q = qkv.q, k = qkv.k
            let v = qkv.v
            if c.rotary {
                let rope = c.rope(layer: l)
                q = try hook(names.rotQ, try b.rope(q, heads: c.heads, headDim: c.headDim, start: start, params: rope), l)
                k = try hook(names.rotK, try b.rope(k, heads: c.kvHeads, headDim: c.headDim, start: start, params: rope), l)
            }
            var keys = k, values = v
            if let cache {
                try b.copyRows(k, into: cache.keys[l], at: start)
                try b.copyRows(v, into: cache.values[l], at: start)
                keys = cache.keys[l]
                values = cache.values[l]
            }
            let zRaw = try attentionValues(q: q, keys: keys, values: values, start: start, layer: l, hooks: sequence)
            let z = try hook(names.z, zRaw, l)
            var attnOut = try b.matmul(z, w.o)
            if let hooks, hooks.wants(names.result) {
                // Each head's share of the output projection, computed only when a hook asks.
                let result = try hook(names.result, try headResults(z, layer: l), l)
                if hooks.intervenes(names.result) { attnOut = try sumHeads(result) }
            }
            attnOut = try hook(names.attnOut, try branchNorm(try withBias(attnOut, w.oBias), w.ln1Post), l)
            // A parallel block's MLP reads the block's input; a sequential one's, the residual after attention.
            if !c.parallelResidual { x = try hook(names.residMid, try b.add(x, attnOut), l) }
            let residMid = x

            // MLP.
            let h2 = try w.ln2.map { try norm(x, $0, scale: names.ln2Scale, normalized: names.ln2, l) } ?? x
            let ffn = try mlp(h2, layer: l) { try hook($0, $1, l) }
            let mlpOut = try hook(names.mlpOut, try branchNorm(ffn.out, w.ln2Post), l)
            x = try hook(names.residPost, try residualSum(x, attnOut, mlpOut), l)
            if let finite, try !finite.allFinite(x) {
                // Only now, on the way to an error: which of the block's activations went first.
                // Block 0's input is hook_embed's output, unless a hook on hook_resid_pre replaced it.
                let inputs: [(String, Tensor)] = l == 0 ? [(HookNames.embed, embedded ?? residPre), (names.residPre, residPre)] : [(names.residPre, residPre)]
                let rotated: [(String, Tensor)] = c.rotary ? [(names.rotQ, q), (names.rotK, k)] : [(names.q, q), (names.k, k)]
                let mid: [(String, Tensor)] = c.parallelResidual ? [] : [(names.residMid, residMid)]
                let steps: [(String, Tensor)] = inputs + (w.ln1 == nil ? [] : [(names.ln1, h)]) + rotated + [
                    (names.v, v), (names.z, z), (names.attnOut, attnOut)] + mid + (w.ln2 == nil ? [] : [(names.ln2, h2)])
                    + [(names.mlpPre, ffn.pre)] + (ffn.preLinear.map { [(names.mlpPreLinear, $0)] } ?? [])
                    + [(names.mlpPost, ffn.post), (names.mlpOut, mlpOut), (names.residPost, x)]
                for (name, tensor) in steps where try !finite.allFinite(tensor) {
                    throw try nonFinite(name, layer: name == HookNames.embed ? nil : l, tensor, firstPosition: start)
                }
            }
            if let stopAfterLayer, l >= stopAfterLayer { return nil }
        }
        cache?.length = start + n

        let wantNorm = (hooks?.wants(HookNames.finalNorm) ?? false) || (hooks?.wants(HookNames.finalScale) ?? false)
        if logits == .none && !wantNorm { return nil }
        // Normalising only the last row is enough for generation, unless the hook wants them all.
        if logits == .last && !wantNorm { x = try x.rows((n - 1)..<n) }
        var normed = try norm(x, finalNorm, scale: HookNames.finalScale, normalized: HookNames.finalNorm, nil)
        if logits == .none { return nil }
        if logits == .finalNormed { return normed }
        if logits == .last && normed.rowCount > 1 { normed = try normed.rows((n - 1)..<n) }
        return try unembed(normed)
    }

    /// Final-normed residuals → logits (with Gemma 2's final softcap). The logit lens uses this too.
    public func unembed(_ normed: Tensor) throws -> Tensor {
        let raw = try backend.matmul(normed, unembedding)
        guard let cap = config.finalSoftcap else { return raw }
        return try backend.softcap(raw, cap: cap)
    }

    /// Logits of the vocabulary entries `range` only [n, range.count]: the same product as
    /// `unembed`, one slice of the unembedding's rows at a time.
    public func unembed(_ normed: Tensor, vocabulary range: Range<Int>) throws -> Tensor {
        let raw = try backend.matmul(normed, try unembedding.rows(range))
        guard let cap = config.finalSoftcap else { return raw }
        return try backend.softcap(raw, cap: cap)
    }

    /// x · W_Uᵀ [n, vocab] for rows x [n, hidden]: the bare unembedding, with neither the final
    /// norm nor the softcap (feature dashboards' direct logit effects read directions through it).
    public func unembedDirect(_ x: Tensor) throws -> Tensor {
        try backend.matmul(x, unembedding)
    }

    /// Applies the final norm (before `unembed`): the logit lens reads any residual through both.
    public func finalNormed(_ residual: Tensor) throws -> Tensor {
        try applyNorm(residual, finalNorm)
    }

}

/// Keys and values of every layer for the positions run so far, so that each new token costs
/// one row of work instead of the whole sequence.
public final class KVCache {
    public let capacity: Int
    public internal(set) var length = 0
    let keys: [Tensor]
    let values: [Tensor]

    public init(model: Transformer, capacity: Int) throws {
        let c = model.config
        guard capacity > 0, capacity <= c.contextLength else {
            throw LanternError.invalidArgument("KV cache capacity \(capacity) must be in 1...\(c.contextLength) (the model's context)")
        }
        self.capacity = capacity
        let shape = [capacity, c.kvHeads * c.headDim]
        keys = try (0..<c.layerCount).map { _ in try model.backend.zeros(shape: shape) }
        values = try (0..<c.layerCount).map { _ in try model.backend.zeros(shape: shape) }
    }

    /// Forgets everything after the first `length` positions.
    public func truncate(to length: Int) { self.length = min(self.length, max(0, length)) }
}
