import Foundation
import Formats
import LanternCore

/// Loading SAEs from the two formats people publish them in.
extension SAE {
    /// Loads a Gemma Scope `params.npz` (a file, or a directory holding one), a Gemma Scope 2
    /// folder (`params.safetensors` + `config.json`, or either file) or a SAELens directory
    /// (`cfg.json` + `sae_weights.safetensors`). `hook` overrides the hook the SAE says it reads.
    public static func load(path: String, backend: any Backend, hook: String? = nil) throws -> SAE {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LanternError.badFile(path: path, field: "file", problem: "does not exist")
        }
        if !isDirectory.boolValue {
            let name = (path as NSString).lastPathComponent
            if name == "params.safetensors" || name == "config.json" {
                return try GemmaScope2.loadSAE(directory: path, backend: backend, hook: hook)
            }
            return try loadGemmaScope(npz: path, backend: backend, hook: hook)
        }
        let dir = path as NSString
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("cfg.json")) {
            return try loadSAELens(directory: path, backend: backend, hook: hook)
        }
        let npz = dir.appendingPathComponent("params.npz")
        if FileManager.default.fileExists(atPath: npz) { return try loadGemmaScope(npz: npz, backend: backend, hook: hook) }
        if GemmaScope2.isFolder(path) { return try GemmaScope2.loadSAE(directory: path, backend: backend, hook: hook) }
        throw LanternError.badFile(path: path, field: "directory", problem: "holds neither cfg.json (SAELens) nor params.npz (Gemma Scope) nor params.safetensors + config.json (Gemma Scope 2)")
    }

    /// Gemma Scope: JumpReLU, no b_dec subtraction. The archive does not name its hook: it comes
    /// from `hook`, or from the release path (`layer_20/...` → blocks.20.hook_resid_post; `-att` and
    /// `-mlp` releases read attn.hook_z and hook_mlp_out).
    public static func loadGemmaScope(npz path: String, backend: any Backend, hook: String? = nil) throws -> SAE {
        let archive = try NPZArchive(path: path)
        // Shapes first, from the members' headers: a lying or oversized member is refused before
        // anything is inflated.
        func shape(_ name: String, rank: Int) throws -> [Int] {
            let shape = try archive.header(name).shape
            guard shape.count == rank else {
                throw LanternError.badFile(path: path, field: name, problem: "shape \(shape) should have \(rank) dimensions")
            }
            return shape
        }
        let encShape = try shape("W_enc", rank: 2)
        let (dIn, dSAE) = (encShape[0], encShape[1])
        for (name, expected) in [("W_dec", [dSAE, dIn]), ("b_enc", [dSAE]), ("b_dec", [dIn]), ("threshold", [dSAE])] {
            let actual = try shape(name, rank: expected.count)
            guard actual == expected else {
                throw LanternError.badFile(path: path, field: name, problem: "shape \(actual), expected \(expected) (W_enc is [\(dIn), \(dSAE)])")
            }
        }
        let wEnc = try archive.array("W_enc"), wDec = try archive.array("W_dec"), bEnc = try archive.array("b_enc")
        let bDec = try archive.array("b_dec"), threshold = try archive.array("threshold")
        let layer = Self.layerInPath(path)
        guard let hookName = hook ?? layer.map({ Self.gemmaScopeHook(path: path, layer: $0) }) else {
            throw LanternError.invalidArgument("\(path): hook: Gemma Scope archives do not name their hook and the path has no layer_N: give --hook (e.g. blocks.20.hook_resid_post)")
        }
        let config = SAEConfig(dIn: dIn, dSAE: dSAE, activation: .jumpReLU, applyBDecToInput: false,
                               hookName: hookName, layer: Self.layerInHook(hookName) ?? layer)
        let weights = SAEWeights(wEnc: wEnc.values, wDec: wDec.values, bEnc: bEnc.values, bDec: bDec.values,
                                 threshold: threshold.values)
        return try SAE(config: config, weights: weights, backend: backend, source: path)
    }

    public static func layerInPath(_ path: String) -> Int? {
        guard let r = path.range(of: #"layer_(\d+)"#, options: .regularExpression) else { return nil }
        return Int(path[r].dropFirst("layer_".count))
    }

    static func layerInHook(_ hook: String) -> Int? {
        guard let r = hook.range(of: #"blocks\.(\d+)\."#, options: .regularExpression) else { return nil }
        return Int(hook[r].dropFirst("blocks.".count).dropLast())
    }

    static func gemmaScopeHook(path: String, layer: Int) -> String {
        if path.contains("-att") { return "blocks.\(layer).attn.hook_z" }
        if path.contains("-mlp") { return "blocks.\(layer).hook_mlp_out" }
        return "blocks.\(layer).hook_resid_post"
    }

    /// SAELens: `cfg.json` says the architecture, the hook and whether b_dec is subtracted first.
    public static func loadSAELens(directory: String, backend: any Backend, hook: String? = nil) throws -> SAE {
        let cfgPath = (directory as NSString).appendingPathComponent("cfg.json")
        let weightsPath = (directory as NSString).appendingPathComponent("sae_weights.safetensors")
        func bad(_ field: String, _ problem: String) -> LanternError { .badFile(path: cfgPath, field: field, problem: problem) }
        guard let data = FileManager.default.contents(atPath: cfgPath),
              let cfg = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw bad("file", "cannot read it as a JSON object")
        }
        // Exact and bounded (2^31 features would not fit in memory anyway): checked before allocating.
        func int(_ key: String) throws -> Int {
            guard let v = cfg[key] else { throw bad(key, "missing") }
            guard let n = JSONFields.exactInt(v), n > 0, n <= 1 << 31 else {
                throw bad(key, "expected a positive integer up to 2^31, got \(JSONFields.describe(v))")
            }
            return n
        }
        let dIn = try int("d_in"), dSAE = try int("d_sae")
        let activation = try saeLensActivation(cfg, bad: bad)
        if let norm = cfg["normalize_activations"] as? String, norm != "none" {
            throw bad("normalize_activations", "'\(norm)' is not supported (only 'none')")
        }
        if let head = cfg["hook_head_index"], !(head is NSNull) { throw bad("hook_head_index", "per-head SAEs are not supported") }
        if (cfg["finetuning_scaling_factor"] as? Bool) == true { throw bad("finetuning_scaling_factor", "true is not supported") }
        var applyBDec = true
        if let value = cfg["apply_b_dec_to_input"] {
            guard let flag = value as? Bool else { throw bad("apply_b_dec_to_input", "expected true or false, got \(value)") }
            applyBDec = flag
        }
        guard let hookName = hook ?? (cfg["hook_name"] as? String) else { throw bad("hook_name", "missing (or give --hook)") }
        let layer = cfg["hook_layer"].flatMap(JSONFields.exactInt) ?? layerInHook(hookName)

        let file = try SafetensorsFile(path: weightsPath)
        func weight(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard file.has(name) else { throw LanternError.badFile(path: weightsPath, field: name, problem: "missing") }
            let t = try file.tensor(name)
            guard t.shape == shape else {
                throw LanternError.badFile(path: weightsPath, field: name, problem: "shape \(t.shape), expected \(shape) (d_in \(dIn), d_sae \(dSAE) from cfg.json)")
            }
            return try t.floats()
        }
        var threshold: [Float]?
        if activation == .jumpReLU {
            threshold = file.has("threshold") || !file.has("log_threshold")
                ? try weight("threshold", [dSAE]) : try weight("log_threshold", [dSAE]).map { exp($0) }
        }
        let weights = SAEWeights(wEnc: try weight("W_enc", [dIn, dSAE]), wDec: try weight("W_dec", [dSAE, dIn]),
                                 bEnc: try weight("b_enc", [dSAE]), bDec: try weight("b_dec", [dIn]), threshold: threshold)
        let config = SAEConfig(dIn: dIn, dSAE: dSAE, activation: activation, applyBDecToInput: applyBDec,
                               hookName: hookName, layer: layer)
        return try SAE(config: config, weights: weights, backend: backend, source: directory)
    }

    static func saeLensActivation(_ cfg: [String: Any], bad: (String, String) -> LanternError) throws -> SAEActivation {
        let architecture = cfg["architecture"] as? String ?? "standard"
        let function = cfg["activation_fn_str"] as? String ?? cfg["activation_fn"] as? String ?? "relu"
        func k() throws -> Int {
            let kwargs = cfg["activation_fn_kwargs"] as? [String: Any] ?? [:]
            guard let raw = cfg["k"] ?? kwargs["k"], let k = JSONFields.exactInt(raw), k > 0 else {
                throw bad("activation_fn_kwargs.k", "a TopK SAE needs a positive integer k")
            }
            if let dSAE = cfg["d_sae"].flatMap(JSONFields.exactInt), k > dSAE {
                throw bad("activation_fn_kwargs.k", "\(k) is more than d_sae \(dSAE)")
            }
            return k
        }
        switch architecture {
        case "jumprelu": return .jumpReLU
        case "topk": return .topK(try k())
        case "standard":
            switch function {
            case "relu": return .relu
            case "topk": return .topK(try k())
            default: throw bad("activation_fn_str", "'\(function)' is not supported (relu or topk)")
            }
        default: throw bad("architecture", "'\(architecture)' is not supported (standard, jumprelu or topk)")
        }
    }
}
