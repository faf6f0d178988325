import Foundation
import Formats
import LanternCore

/// Writes a trained SAE the way SAELens stores one: `cfg.json` + `sae_weights.safetensors` with
/// W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc, b_dec (and threshold for JumpReLU), in the
/// model's own units: the training-time input scale c (x' = c·x) is folded into the biases and
/// the activations, so decoder rows keep unit norm (as Gemma Scope's and SAELens's do, which is
/// what makes steering strengths comparable) and the activations come out in the model's units:
///     W_enc = encoderᵀ,  b_enc = b_enc' / c,  W_dec = decoder,  b_dec = b_dec' / c,  θ = θ' / c,
/// so that encode((x − b_dec) · W_enc + b_enc) = pre' / c and decode gives x̂' / c = x̂.
/// With per-dimension normalisation (x' = c·(x − μ)⊙u, u = 1/σ) the same holds with
///     W_enc = diag(u)·encoderᵀ,  W_dec = decoder·diag(σ),  b_dec = μ + σ⊙b_dec'/c,
/// and decoder rows are no longer unit norm (TopK ranks raw pre-activations, so they cannot be
/// rescaled per latent without changing which latents fire).
public enum SAELensExport {
    public struct Description: Sendable {
        public var hookName: String
        public var hookLayer: Int
        public var modelName: String
        public var contextSize: Int?
        public var dataset: String?

        public init(hookName: String, hookLayer: Int, modelName: String, contextSize: Int? = nil, dataset: String? = nil) {
            self.hookName = hookName
            self.hookLayer = hookLayer
            self.modelName = modelName
            self.contextSize = contextSize
            self.dataset = dataset
        }
    }

    /// `weights` is the storage of W_enc and W_dec (f16 halves a shipped SAE; the biases stay f32).
    public static func write(_ p: SAEParameters, architecture: SAEArchitecture, k: Int, description: Description,
                             training: [String: Any] = [:], weights: DType = .f32, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let d = p.inputWidth, s = p.width, c = p.inputScale
        let u = p.dimensionScale.isEmpty ? [Float](repeating: 1, count: d) : p.dimensionScale
        let mu = p.inputShift.isEmpty ? [Float](repeating: 0, count: d) : p.inputShift
        var wEnc = [Float](repeating: 0, count: d * s), wDec = p.decoder
        for j in 0..<s {
            for i in 0..<d {
                wEnc[i * s + j] = p.encoder[j * d + i] * u[i]
                wDec[j * d + i] /= u[i]
            }
        }
        var entries: [SafetensorsWriter.Entry] = [
            .init(name: "W_enc", shape: [d, s], values: wEnc, dtype: weights),
            .init(name: "W_dec", shape: [s, d], values: wDec, dtype: weights),
            .init(name: "b_enc", shape: [s], values: p.encoderBias.map { $0 / c }),
            .init(name: "b_dec", shape: [d], values: (0..<d).map { mu[$0] + p.decoderBias[$0] / (c * u[$0]) }),
        ]
        if architecture == .jumprelu {
            entries.append(.init(name: "threshold", shape: [s], values: p.logThreshold.map { exp($0) / c }))
        }
        try SafetensorsWriter.write(entries, to: (directory as NSString).appendingPathComponent("sae_weights.safetensors"))

        var cfg: [String: Any] = [
            "d_in": d, "d_sae": s, "architecture": architecture.saeLensName,
            "activation_fn_str": architecture == .topk ? "topk" : "relu",
            "activation_fn_kwargs": architecture == .topk ? ["k": k] : [String: Int](),
            "apply_b_dec_to_input": true, "hook_name": description.hookName, "hook_layer": description.hookLayer,
            "hook_head_index": NSNull(), "model_name": description.modelName, "dtype": "float32", "device": "cpu",
            "normalize_activations": "none", "prepend_bos": true, "finetuning_scaling_factor": false,
            "dataset_path": description.dataset ?? "", "context_size": description.contextSize ?? 0,
        ]
        if !training.isEmpty { cfg["lantern_training"] = training }
        let data = try JSONSerialization.data(withJSONObject: cfg, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("cfg.json")), options: .atomic)
    }

    /// The layer a TransformerLens hook name belongs to (`blocks.L.…`); 0 for hook_embed.
    public static func layer(ofHook name: String) -> Int {
        let parts = name.split(separator: ".")
        if parts.count > 1, parts[0] == "blocks", let l = Int(parts[1]) { return l }
        return 0
    }
}
