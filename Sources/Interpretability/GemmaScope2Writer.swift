import Foundation
import Formats
import LanternCore

/// Writing a transcoder as a Gemma Scope 2 folder, so that Lantern's own transcoders and the
/// published ones load through the same code (`GemmaScope2.loadTranscoder`):
///   params.safetensors  w_enc [d_in, d_sae], w_dec [d_sae, d_out], b_enc [d_sae], b_dec [d_out],
///                       threshold [d_sae] (jump_relu only), affine_skip_connection [d_in, d_out]
///                       (x · W_skip; only when there is a skip); f32, or f16 rounded to nearest.
///   config.json         architecture ("jump_relu", "relu" or "topk"), hf_hook_point_in,
///                       hf_hook_point_out (the Hugging Face module paths of the Lantern hooks),
///                       width (d_sae), l0 (when measured), model_name, affine_connection, and two
///                       Lantern extras: `k` (TopK's k, SAELens's name for it) and, when given,
///                       `lantern_training` (how it was trained, free-form).
extension GemmaScope2 {
    public static func writeTranscoder(config c: TranscoderConfig, weights w: TranscoderWeights, modelName: String,
                                       l0: Double? = nil, dtype: DType = .f32, training: [String: Any] = [:],
                                       to directory: String) throws {
        try SAE.validate(directory, [("w_enc", w.wEnc, [c.dIn, c.dSAE]), ("w_dec", w.wDec, [c.dSAE, c.dOut]),
                                            ("b_enc", w.bEnc, [c.dSAE]), ("b_dec", w.bDec, [c.dOut]),
                                            ("threshold", w.threshold, [c.dSAE]), ("affine_skip_connection", w.skip, [c.dIn, c.dOut])])
        guard dtype == .f32 || dtype == .f16 else {
            throw LanternError.unsupported("writing a transcoder as \(dtype) (f32 or f16)")
        }
        func hfPath(_ hook: String, _ role: String) throws -> String {
            guard let path = hfModulePath(lanternHook: hook) else {
                throw LanternError.invalidArgument("\(directory): the \(role) hook '\(hook)' has no Hugging Face module path in the Gemma Scope 2 layout (mappable: \(sites.map { "blocks.L.\($0.lantern)" }.joined(separator: ", ")))")
            }
            return path
        }
        let hookIn = try hfPath(c.inputHook, "input"), hookOut = try hfPath(c.outputHook, "output")
        let architecture: String
        var cfg: [String: Any] = [:]
        switch c.activation {
        case .jumpReLU:
            guard w.threshold != nil else {
                throw LanternError.invalidArgument("\(directory): a jump_relu transcoder needs its threshold")
            }
            architecture = "jump_relu"
        case .relu: architecture = "relu"
        case let .topK(k):
            architecture = "topk"
            cfg[topKKey] = k
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var entries: [SafetensorsWriter.Entry] = [
            .init(name: "w_enc", shape: [c.dIn, c.dSAE], values: w.wEnc, dtype: dtype),
            .init(name: "w_dec", shape: [c.dSAE, c.dOut], values: w.wDec, dtype: dtype),
            .init(name: "b_enc", shape: [c.dSAE], values: w.bEnc, dtype: dtype),
            .init(name: "b_dec", shape: [c.dOut], values: w.bDec, dtype: dtype),
        ]
        if c.activation == .jumpReLU, let threshold = w.threshold {
            entries.append(.init(name: "threshold", shape: [c.dSAE], values: threshold, dtype: dtype))
        }
        if let skip = w.skip {
            entries.append(.init(name: "affine_skip_connection", shape: [c.dIn, c.dOut], values: skip, dtype: dtype))
        }
        try SafetensorsWriter.write(entries, to: (directory as NSString).appendingPathComponent(paramsName))

        cfg["architecture"] = architecture
        cfg["hf_hook_point_in"] = hookIn
        cfg["hf_hook_point_out"] = hookOut
        cfg["width"] = c.dSAE
        cfg["model_name"] = modelName
        cfg["affine_connection"] = w.skip != nil
        if let l0 { cfg["l0"] = l0 }
        if !training.isEmpty { cfg["lantern_training"] = training }
        guard JSONSerialization.isValidJSONObject(cfg) else {
            throw LanternError.invalidArgument("\(directory): training description is not JSON (strings, numbers, lists and objects only)")
        }
        let data = try JSONSerialization.data(withJSONObject: cfg, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(configName)), options: .atomic)
    }

    /// Writes a cross-layer transcoder as a folder `readCrossLayerTranscoder` reads: per source
    /// layer i, params_layer_{i}.safetensors with w_enc [d_in, d_sae], b_enc, w_dec
    /// [d_sae, n_layers − i, d_out] (the compact form: slots from layer i on), b_dec [d_out] of
    /// output layer i, threshold (jump_relu only); and one config.json (layer 0's hooks stand for
    /// every layer's, as in the Hub's `clt/` folders), with `k` for TopK.
    public static func writeCrossLayerTranscoder(layers: [CrossLayerTranscoderLayer], dIn: Int, dSAE: Int, dOut: Int,
                                                 activation: SAEActivation, inputHook: String, outputHook: String,
                                                 modelName: String, dtype: DType = .f32, training: [String: Any] = [:],
                                                 to directory: String) throws {
        try CrossLayerTranscoder.check(layers: layers, dIn: dIn, dSAE: dSAE, dOut: dOut, activation: activation,
                                       hooks: (layers.count, layers.count), source: directory)
        guard layers.allSatisfy({ $0.skip == nil }) else {
            throw LanternError.unsupported("writing a cross-layer transcoder with an affine skip")
        }
        guard dtype == .f32 || dtype == .f16 else {
            throw LanternError.unsupported("writing a transcoder as \(dtype) (f32 or f16)")
        }
        var cfg: [String: Any] = [:]
        for (hook, role, key) in [(inputHook, "input", "hf_hook_point_in"), (outputHook, "output", "hf_hook_point_out")] {
            guard let path = hfModulePath(lanternHook: hook) else {
                throw LanternError.invalidArgument("\(directory): the \(role) hook '\(hook)' has no Hugging Face module path in the Gemma Scope 2 layout (mappable: \(sites.map { "blocks.L.\($0.lantern)" }.joined(separator: ", ")))")
            }
            cfg[key] = path
        }
        switch activation {
        case .jumpReLU: cfg["architecture"] = "jump_relu"
        case .relu: cfg["architecture"] = "relu"
        case let .topK(k):
            cfg["architecture"] = "topk"
            cfg[topKKey] = k
        }
        cfg["width"] = dSAE
        cfg["model_name"] = modelName
        cfg["affine_connection"] = false
        if !training.isEmpty { cfg["lantern_training"] = training }
        guard JSONSerialization.isValidJSONObject(cfg) else {
            throw LanternError.invalidArgument("\(directory): training description is not JSON (strings, numbers, lists and objects only)")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let n = layers.count
        for (i, l) in layers.enumerated() {
            var entries: [SafetensorsWriter.Entry] = [
                .init(name: "w_enc", shape: [dIn, dSAE], values: l.wEnc, dtype: dtype),
                .init(name: "b_enc", shape: [dSAE], values: l.bEnc, dtype: dtype),
                .init(name: "w_dec", shape: [dSAE, n - i, dOut], values: l.wDec, dtype: dtype),
                .init(name: "b_dec", shape: [dOut], values: l.bDec, dtype: dtype),
            ]
            if activation == .jumpReLU, let threshold = l.threshold {
                entries.append(.init(name: "threshold", shape: [dSAE], values: threshold, dtype: dtype))
            }
            try SafetensorsWriter.write(entries, to: (directory as NSString).appendingPathComponent(layerFileName(i)))
        }
        let data = try JSONSerialization.data(withJSONObject: cfg, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(configName)), options: .atomic)
    }

    /// Writes a loaded (or built) transcoder back out in the same layout.
    public static func write(_ transcoder: Transcoder, modelName: String, l0: Double? = nil, dtype: DType = .f32,
                             to directory: String) throws {
        try writeTranscoder(config: transcoder.config, weights: try transcoder.weights(), modelName: modelName,
                            l0: l0, dtype: dtype, to: directory)
    }
}
