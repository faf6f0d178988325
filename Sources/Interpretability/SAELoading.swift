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

    /// SAELens's `cfg.json`, as far as Lantern reads it. Sizes are exact and bounded (2^31
    /// features would not fit in memory anyway), checked before anything is allocated.
    static let saeLensSchema = ConfigSchema([
        .init("d_in", .integer(1...(1 << 31)), .required()),
        .init("d_sae", .integer(1...(1 << 31)), .required()),
        .init("architecture", .choice(["standard", "jumprelu", "topk"], expected: "standard, jumprelu or topk"), .defaultValue(.string("standard"))),
        .init("activation_fn_str", .string),
        .init("activation_fn", .string),
        .init("k", .integer(1...(1 << 31))),
        .init("activation_fn_kwargs.k", .integer(1...(1 << 31))),
        .init("normalize_activations", .choice(["none"], expected: "only 'none' is supported")),
        .init("hook_head_index", .unsupported(why: "per-head SAEs are not supported")),
        .init("finetuning_scaling_factor", .boolean),
        .init("apply_b_dec_to_input", .boolean, .defaultValue(.bool(true))),
        .init("hook_name", .string),
        .init("hook_layer", .integer(0...(1 << 20))),
        // SAELens before 6.0 (and the Hub folders it wrote, GPT-2 small's residual SAEs among
        // them) said hook_point, hook_point_layer, hook_point_head_index; SAELens renames them.
        .init("hook_point", .string),
        .init("hook_point_layer", .integer(0...(1 << 20))),
        .init("hook_point_head_index", .unsupported(why: "per-head SAEs are not supported")),
        .init("model_from_pretrained_kwargs", .object),
        .init("model_from_pretrained_kwargs.center_writing_weights", .boolean),
    ], rules: [.atMost("k", limit: "d_sae"), .atMost("activation_fn_kwargs.k", limit: "d_sae")])

    /// SAELens: `cfg.json` says the architecture, the hook and whether b_dec is subtracted first.
    public static func loadSAELens(directory: String, backend: any Backend, hook: String? = nil) throws -> SAE {
        let (config, weights) = try readSAELens(directory: directory, hook: hook)
        return try SAE(config: config, weights: weights, backend: backend, source: directory)
    }

    /// The SAE as read from the files, before any backend holds it; `SAE.check` holds it to
    /// what a loaded SAE must be (the fuzz harness reads folders through this).
    public static func readSAELens(directory: String, hook: String? = nil) throws -> (config: SAEConfig, weights: SAEWeights) {
        let cfgPath = (directory as NSString).appendingPathComponent("cfg.json")
        let weightsPath = (directory as NSString).appendingPathComponent("sae_weights.safetensors")
        let cfg = try saeLensSchema.read(path: cfgPath)
        let dIn = try cfg.required("d_in", cfg.int), dSAE = try cfg.required("d_sae", cfg.int)
        let activation = try saeLensActivation(cfg)
        if try cfg.bool("finetuning_scaling_factor") == true { throw cfg.bad("finetuning_scaling_factor", "true is not supported") }
        let applyBDec = try cfg.required("apply_b_dec_to_input", cfg.bool)
        let saidHook = try cfg.string("hook_name") ?? cfg.string("hook_point")
        let saidLayer = try cfg.int("hook_layer") ?? cfg.int("hook_point_layer")
        if let saidHook { try checkHook(saidHook, layer: saidLayer, folder: directory, cfgPath: cfgPath) }
        guard let hookName = hook ?? saidHook else { throw cfg.bad("hook_name", "missing (or give --hook)") }
        let layer = saidLayer ?? layerInHook(hookName)
        let centred = try cfg.bool("model_from_pretrained_kwargs.center_writing_weights") ?? false
        if centred && !SAEConfig.isWrittenStream(hookName) {
            throw cfg.bad("model_from_pretrained_kwargs.center_writing_weights",
                          "true for '\(hookName)', which is not a residual-stream write (the embeddings, resid_pre/mid/post, attn_out, mlp_out): its centring is not implemented")
        }

        let file = try SafetensorsFile(path: weightsPath)
        // JumpReLU: `threshold`, or SAELens's older `log_threshold`.
        let logThreshold = activation == .jumpReLU && !file.has("threshold") && file.has("log_threshold")
        var shapes: [TensorShapes.Tensor] = [.init("W_enc", ["d_in", "d_sae"]), .init("W_dec", ["d_sae", "d_in"]),
                                             .init("b_enc", ["d_sae"]), .init("b_dec", ["d_in"])]
        if activation == .jumpReLU { shapes.append(.init(logThreshold ? "log_threshold" : "threshold", ["d_sae"])) }
        try TensorShapes(shapes).check(path: weightsPath, sizes: ["d_in": dIn, "d_sae": dSAE], origin: "cfg.json", shape: file.shapeIfPresent)
        func weight(_ name: String) throws -> [Float] { try file.tensor(name).floats() }
        var threshold: [Float]?
        if activation == .jumpReLU { threshold = logThreshold ? try weight("log_threshold").map { exp($0) } : try weight("threshold") }
        let weights = SAEWeights(wEnc: try weight("W_enc"), wDec: try weight("W_dec"),
                                 bEnc: try weight("b_enc"), bDec: try weight("b_dec"), threshold: threshold)
        var config = SAEConfig(dIn: dIn, dSAE: dSAE, activation: activation, applyBDecToInput: applyBDec,
                               hookName: hookName, layer: layer)
        config.centersInput = centred
        return (config, weights)
    }

    /// The layer a SAELens folder's own name gives (`blocks.6.hook_resid_post`, `layer_6`,
    /// `layer_6_width_…`), from the innermost of its last three path components that names one.
    static func layerInFolder(_ directory: String) -> (layer: Int, component: String)? {
        for component in URL(fileURLWithPath: directory).standardizedFileURL.pathComponents.suffix(3).reversed() {
            if let layer = layerInHook(component) { return (layer, component) }
            if let r = component.range(of: #"^layer_(\d+)(_|$)"#, options: .regularExpression),
               let layer = Int(component[r].dropFirst("layer_".count).prefix { $0.isNumber }) {
                return (layer, component)
            }
        }
        return nil
    }

    /// A cfg.json whose hook names another layer than its `hook_layer` or its folder is a file
    /// copied into the wrong place (or edited by hand): which of the two is right cannot be told,
    /// and a wrong layer gives plausible, wrong features, so the folder is refused.
    static func checkHook(_ hook: String, layer hookLayer: Int?, folder: String, cfgPath: String) throws {
        guard let layer = layerInHook(hook) else { return }
        if let hookLayer, hookLayer != layer {
            throw LanternError.badFile(path: cfgPath, field: "hook_layer", problem: "\(hookLayer), but hook_name '\(hook)' is in layer \(layer)")
        }
        if let (folderLayer, component) = layerInFolder(folder), folderLayer != layer {
            throw LanternError.badFile(path: cfgPath, field: "hook_name",
                                       problem: "'\(hook)' is in layer \(layer), but its folder '\(component)' names layer \(folderLayer)")
        }
    }

    static func saeLensActivation(_ cfg: ConfigValues) throws -> SAEActivation {
        let architecture = try cfg.string("architecture") ?? "standard"
        let function = try cfg.string("activation_fn_str") ?? cfg.string("activation_fn") ?? "relu"
        func k() throws -> Int {
            guard let k = try cfg.int("k") ?? cfg.int("activation_fn_kwargs.k") else {
                throw cfg.bad("activation_fn_kwargs.k", "a TopK SAE needs a positive integer k")
            }
            return k
        }
        switch architecture {
        case "jumprelu": return .jumpReLU
        case "topk": return .topK(try k())
        default:
            switch function {
            case "relu": return .relu
            case "topk": return .topK(try k())
            default: throw cfg.bad(try cfg.has("activation_fn_str") ? "activation_fn_str" : "activation_fn", "'\(function)' is not supported (relu or topk)")
            }
        }
    }
}
