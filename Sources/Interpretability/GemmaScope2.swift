import Foundation
import Formats
import LanternCore

/// Gemma Scope 2 (Google DeepMind, December 2025): SAEs, transcoders and cross-layer transcoders
/// for every Gemma 3 model, on the Hub as google/gemma-scope-2-{size}-{pt|it}. One folder per
/// dictionary (`resid_post/layer_5_width_16k_l0_medium/`, `transcoder/…_affine/`) holding
/// `params.safetensors` and `config.json`; a cross-layer transcoder is one folder of
/// `params_layer_{i}.safetensors` files. This file reads `config.json` and maps the Hugging Face
/// module paths it names to Lantern's (TransformerLens) hooks; GemmaScope2Loading.swift reads
/// the weights, GemmaScope2Writer.swift writes Lantern's own transcoders in the same layout.
public enum GemmaScope2 {
    /// HF module path suffixes (after `model.layers.L.`) and the Lantern hook site each one is.
    /// The first four are the ones Gemma Scope 2 uses; the rest are the same kind of fact (what the
    /// module's input or output is in Lantern's forward pass), for folders Lantern writes.
    static let sites: [(hf: String, lantern: String)] = [
        ("output", "hook_resid_post"),
        ("self_attn.o_proj.input", "attn.hook_z"),
        ("pre_feedforward_layernorm.output", "ln2.hook_normalized"),
        ("post_feedforward_layernorm.output", "hook_mlp_out"),
        ("input", "hook_resid_pre"),
        ("input_layernorm.output", "ln1.hook_normalized"),
        ("post_attention_layernorm.output", "hook_attn_out"),
        ("mlp.down_proj.input", "mlp.hook_post"),
    ]

    /// `model.layers.L.output` → `blocks.L.hook_resid_post`, and so on; nil for a path that has no
    /// Lantern hook. The multimodal models' `model.language_model.layers.L…` is the same module.
    public static func lanternHook(hfModulePath path: String) -> String? {
        var rest = Substring(path)
        for prefix in ["model.language_model.layers.", "model.layers."] where rest.hasPrefix(prefix) {
            rest = rest.dropFirst(prefix.count)
            break
        }
        guard rest.count < path.count, let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0,
              rest[..<dot].allSatisfy(\.isNumber) else { return nil }
        let suffix = rest[rest.index(after: dot)...]
        return sites.first { $0.hf == suffix }.map { "blocks.\(layer).\($0.lantern)" }
    }

    /// The inverse: `blocks.L.hook_mlp_out` → `model.layers.L.post_feedforward_layernorm.output`.
    public static func hfModulePath(lanternHook hook: String) -> String? {
        guard let layer = SAE.layerInHook(hook), hook.hasPrefix("blocks.\(layer).") else { return nil }
        let site = hook.dropFirst("blocks.\(layer).".count)
        return sites.first { $0.lantern == site }.map { "model.layers.\(layer).\($0.hf)" }
    }

    /// The module paths this build understands, for error messages.
    static var mappableDescription: String {
        sites.prefix(4).map { "model.layers.L.\($0.hf)" }.joined(separator: ", ") + " (and \(sites.count - 4) more)"
    }

    /// What a folder's `config.json` says.
    public struct Config: Sendable {
        /// `jump_relu` (Gemma Scope 2); `relu` and `topk` in folders Lantern writes.
        public var architecture: String
        public var activation: SAEActivation
        public var hfHookIn: String?
        public var hfHookOut: String?
        public var width: Int?
        public var l0: Double?
        public var modelName: String?
        /// Whether the folder says it has an affine skip (`affine_connection`), when it says.
        public var affineConnection: Bool?
        /// Where it was read from.
        public var path: String

        /// Reads a different hook than it writes: a transcoder, not an SAE.
        public var isTranscoder: Bool { hfHookOut != nil && hfHookOut != hfHookIn }

        /// The Lantern hook named by `hf_hook_point_in` or `hf_hook_point_out`; one clear line when
        /// it is missing or does not map.
        public func hook(_ field: String) throws -> String {
            guard let path = field == "hf_hook_point_out" ? hfHookOut : hfHookIn else {
                throw LanternError.badFile(path: self.path, field: field, problem: "missing (expected a Hugging Face module path such as model.layers.5.output)")
            }
            guard let hook = GemmaScope2.lanternHook(hfModulePath: path) else {
                throw LanternError.badFile(path: self.path, field: field, problem: "'\(path)' does not map to a Lantern hook (expected one of \(GemmaScope2.mappableDescription))")
            }
            return hook
        }
    }

    /// The documented extra key Lantern writes for a TopK folder's k (SAELens's name for it).
    public static let topKKey = "k"

    /// Gemma Scope 2's `config.json` (and the extra keys Lantern writes for relu and topk folders).
    static let configSchema = ConfigSchema([
        .init("architecture", .choice(["jump_relu", "relu", "topk"], expected: "jump_relu, or relu/topk as Lantern writes them"),
              .required(note: "expected \"jump_relu\"")),
        .init(topKKey, .integer(1...Int.max), .requiredWhen(key: "architecture", values: ["topk"], note: "a topk folder needs its k")),
        .init("hf_hook_point_in", .string),
        .init("hf_hook_point_out", .string),
        .init("width", .integer(1...Int.max)),
        .init("l0", .number(.atLeastZero)),
        .init("model_name", .string),
        .init("affine_connection", .boolean),
    ])

    /// Reads and type-checks `config.json`. Every problem is one line naming the file and key.
    public static func readConfig(_ path: String) throws -> Config {
        let cfg = try configSchema.read(path: path)
        let architecture = try cfg.required("architecture", cfg.string)
        let activation: SAEActivation = switch architecture {
        case "relu": .relu
        case "topk": .topK(try cfg.required(topKKey, cfg.int))
        default: .jumpReLU
        }
        return Config(architecture: architecture, activation: activation, hfHookIn: try cfg.string("hf_hook_point_in"),
                      hfHookOut: try cfg.string("hf_hook_point_out"), width: try cfg.int("width"), l0: try cfg.double("l0"),
                      modelName: try cfg.string("model_name"), affineConnection: try cfg.bool("affine_connection"), path: path)
    }
}
