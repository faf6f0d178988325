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

    /// Reads and type-checks `config.json`. Every problem is one line naming the file and key.
    public static func readConfig(_ path: String) throws -> Config {
        func bad(_ field: String, _ problem: String) -> LanternError { .badFile(path: path, field: field, problem: problem) }
        guard let data = FileManager.default.contents(atPath: path) else { throw bad("file", "cannot be read") }
        guard let json = try? JSONSerialization.jsonObject(with: data), let cfg = json as? [String: Any] else {
            throw bad("file", "is not a JSON object")
        }
        func string(_ key: String) throws -> String? {
            guard let value = cfg[key], !(value is NSNull) else { return nil }
            guard let s = value as? String else { throw bad(key, "expected a string, got \(describe(value))") }
            return s
        }
        func integer(_ key: String) throws -> Int? {
            guard let value = cfg[key], !(value is NSNull) else { return nil }
            guard let n = JSONFields.exactInt(value), n > 0 else {
                throw bad(key, "expected a positive integer, got \(describe(value))")
            }
            return n
        }
        guard let architecture = try string("architecture") else { throw bad("architecture", "missing (expected \"jump_relu\")") }
        let activation: SAEActivation
        switch architecture {
        case "jump_relu": activation = .jumpReLU
        case "relu": activation = .relu
        case "topk":
            guard let k = try integer(topKKey) else { throw bad(topKKey, "missing (a topk folder needs its k)") }
            activation = .topK(k)
        default: throw bad("architecture", "'\(architecture)' is not supported (expected jump_relu, or relu/topk as Lantern writes them)")
        }
        var l0: Double?
        if let value = cfg["l0"], !(value is NSNull) {
            // Strict: JSON true is an NSNumber too, and not an L0.
            guard let n = JSONFields.finite(value), n >= 0 else { throw bad("l0", "expected a finite number ≥ 0, got \(JSONFields.describe(value))") }
            l0 = n
        }
        var affine: Bool?
        if let value = cfg["affine_connection"], !(value is NSNull) {
            // Strict: the number 1 bridges to true, and is not a flag.
            guard JSONFields.isBool(value), let flag = value as? Bool else { throw bad("affine_connection", "expected true or false, got \(describe(value))") }
            affine = flag
        }
        return Config(architecture: architecture, activation: activation, hfHookIn: try string("hf_hook_point_in"),
                      hfHookOut: try string("hf_hook_point_out"), width: try integer("width"), l0: l0,
                      modelName: try string("model_name"), affineConnection: affine, path: path)
    }

    static func describe(_ value: Any) -> String {
        if let s = value as? String { return "\"\(s)\"" }
        if value is [Any] { return "a list" }
        if value is [String: Any] { return "an object" }
        return "\(value)"
    }
}
