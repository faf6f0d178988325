import Foundation
import Lantern

/// A loaded model as Python holds it: the model and why `auto` took the CPU, if it did.
final class ModelHandle {
    let model: LanternModel
    let notice: String?
    init(model: LanternModel, notice: String?) { self.model = model; self.notice = notice }
}

func model(_ handle: UnsafeMutableRawPointer?) throws -> LanternModel {
    try borrowed(handle, as: ModelHandle.self, what: "model").model
}

/// Loads `spec` (a cached model's name, a Hugging Face directory or a .gguf file; NULL or "" for the
/// default model, fetched on first use) on `backend` ("auto", "cpu" or "vulkan"). NULL on error.
@_cdecl("lantern_model_load")
public func lantern_model_load(_ spec: UnsafePointer<CChar>?, _ backend: UnsafePointer<CChar>?, _ error: ErrorOut) -> UnsafeMutableRawPointer? {
    guarded(error, nil) {
        let kindName = string(backend) ?? "auto"
        guard let kind = BackendKind(rawValue: kindName) else {
            throw LanternError.invalidArgument("backend '\(kindName)': expected one of \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let (made, notice) = try makeBackend(kind)
        let name = string(spec).flatMap { $0.isEmpty ? nil : $0 }
        return retained(ModelHandle(model: try LanternModel.load(model: name, backend: made), notice: notice))
    }
}

/// Keeps the model's weights widened to f32 after their first many-row product, up to `limit`
/// bytes (≤ 0: a quarter of the machine's memory), as the CLI's many-pass commands do: later
/// traces, caches and evaluations skip the dequantising. CPU backend only. 1 when the backend
/// widens, 0 when it does not (a GPU backend keeps its own copies), −1 on error.
@_cdecl("lantern_model_widen_weights")
public func lantern_model_widen_weights(_ handle: UnsafeMutableRawPointer?, _ limit: Int64, _ error: ErrorOut) -> Int32 {
    guarded(error, -1) {
        guard let cpu = try model(handle).transformer.backend as? CPUBackend else { return 0 }
        cpu.widenWeights(upTo: limit > 0 ? Int(limit) : WideningBudget.defaultLimit)
        return 1
    }
}

/// Bytes of widened weights the model's backend holds now (0 when it does not widen); −1 on error.
@_cdecl("lantern_model_widened_bytes")
public func lantern_model_widened_bytes(_ handle: UnsafeMutableRawPointer?, _ error: ErrorOut) -> Int64 {
    guarded(error, -1) { Int64((try model(handle).transformer.backend as? CPUBackend)?.widening?.bytesUsed ?? 0) }
}

@_cdecl("lantern_model_free")
public func lantern_model_free(_ handle: UnsafeMutableRawPointer?) { release(handle, as: ModelHandle.self) }

/// The model's configuration, hook names and tokenizer facts as one JSON object. NULL on error.
@_cdecl("lantern_model_config")
public func lantern_model_config(_ handle: UnsafeMutableRawPointer?, _ error: ErrorOut) -> UnsafeMutablePointer<CChar>? {
    guarded(error, nil) {
        let owner = try borrowed(handle, as: ModelHandle.self, what: "model")
        let m = owner.model, c = m.config
        let object: [String: Any] = [
            "family": c.family.rawValue, "n_layers": c.layerCount, "d_model": c.hiddenSize, "d_mlp": c.intermediateSize,
            "n_heads": c.heads, "n_key_value_heads": c.kvHeads, "d_head": c.headDim, "d_vocab": c.vocabSize,
            "n_ctx": c.contextLength, "eps": Double(c.rmsEps), "act_fn": c.activation.rawValue,
            "sliding_window": c.slidingWindow ?? NSNull(), "sliding_layers": c.slidingLayers,
            "attn_softcap": c.attentionSoftcap.map { Double($0) } ?? NSNull(),
            "final_softcap": c.finalSoftcap.map { Double($0) } ?? NSNull(), "tied_embeddings": c.tiedEmbeddings,
            "bos_token_id": (m.tokenizer?.bos ?? c.bosToken).map { Int($0) } ?? NSNull(),
            "eos_token_ids": c.eosTokens.map(Int.init), "pad_token_id": c.padToken.map { Int($0) } ?? NSNull(),
            "has_tokenizer": m.tokenizer != nil, "tokenizer_unavailable": m.tokenizerUnavailable ?? NSNull(), "backend": m.backend.name, "source": m.source,
            "model_name": m.displayName, "notice": owner.notice ?? NSNull(),
            "hook_names": HookNames.all(c), "parameter_names": m.transformer.parameterNames,
            // TransformerLens's names for the architecture's conventions.
            "normalization_type": c.layerNorm ? "LN" : "RMS",
            "positional_embedding_type": c.rotary ? "rotary" : "standard",
            "rotary_dim": c.rotary ? c.ropeGlobal.rotaryDim : NSNull(),
            "parallel_attn_mlp": c.parallelResidual, "gated_mlp": c.gatedMLP,
        ]
        return try jsonText(object)
    }
}

/// One parameter by its TransformerLens name (`Transformer.parameterNames`), as a result with one
/// entry in the layout the forward pass uses ([out, in]); f32 weights are lent without a copy, so
/// the caller must treat the values as read-only. NULL on error.
@_cdecl("lantern_parameter")
public func lantern_parameter(_ handle: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?,
                              _ error: ErrorOut) -> UnsafeMutableRawPointer? {
    guarded(error, nil) {
        let m = try model(handle)
        let name = string(name) ?? ""
        return retained(try RunResult([(name, try m.transformer.parameter(name))], backend: m.backend))
    }
}

/// Encodes `text` into `*ids` (malloc'd; free with lantern_free). add_bos: -1 the tokenizer's
/// default, 0 no, 1 yes. Returns the count, or -1 on error.
@_cdecl("lantern_tokenize")
public func lantern_tokenize(_ handle: UnsafeMutableRawPointer?, _ text: UnsafePointer<CChar>?, _ addBOS: Int32,
                             _ out: UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?, _ error: ErrorOut) -> Int64 {
    guarded(error, -1) {
        let m = try model(handle)
        guard let tokenizer = m.tokenizer else {
            throw m.noTokenizer("give token ids instead of text")
        }
        let encoded = tokenizer.encode(string(text) ?? "", addBOS: addBOS < 0 ? nil : addBOS == 1)
        let buffer = malloc(max(encoded.count, 1) * MemoryLayout<Int32>.stride)!.assumingMemoryBound(to: Int32.self)
        for (i, id) in encoded.enumerated() { buffer[i] = id }
        out?.pointee = buffer
        return Int64(encoded.count)
    }
}

/// mode 0: the text of `ids` joined; 1: the same without special tokens; 2: a JSON array with each
/// token's own text (to_str_tokens). Checks the ids against the vocabulary. NULL on error.
@_cdecl("lantern_detokenize")
public func lantern_detokenize(_ handle: UnsafeMutableRawPointer?, _ pointer: UnsafePointer<Int32>?, _ count: Int64,
                               _ mode: Int32, _ error: ErrorOut) -> UnsafeMutablePointer<CChar>? {
    guarded(error, nil) {
        let m = try model(handle)
        let tokens = try ids(pointer, count)
        let vocab = m.config.vocabSize
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw LanternError.invalidArgument("token \(bad) is out of range: the vocabulary has \(vocab) tokens")
        }
        switch mode {
        case 2: return try jsonText(m.tokenizer.map { $0.pieceTexts(tokens) } ?? tokens.map { m.display($0) })
        default: return strdup(m.decode(tokens, skipSpecial: mode == 1))
        }
    }
}
