import Foundation
import Formats
import LanternCore

/// Reading Gemma Scope 2 folders. Encoding and decoding are as SAELens and the Gemma Scope 2
/// tutorial do them for these files: pre = x · w_enc + b_enc (no b_dec subtraction), acts =
/// (pre > threshold) · relu(pre), output = acts · w_dec + b_dec (+ x · affine_skip_connection).
///
/// The skip's orientation, checked in three sources (read with the code search tool):
/// - circuit-tracer, `circuit_tracer/transcoder/cross_layer_transcoder.py`: `load_gemma_scope_2_clt`
///   stores `affine_skip_connection` unchanged as `W_skip`, and `compute_skip` returns
///   `inputs @ self.W_skip[layer_id]`: x · W_skip with W_skip [d_in, d_out].
/// - The Gemma Scope 2 tutorial's `JumpReLUSAE.forward` (as copied into public notebooks):
///   `recon + x @ self.affine_skip_connection`, the same.
/// - SAELens (decoderesearch/SAELens `sae_lens/loading/pretrained_sae_loaders.py`,
///   `gemma_3_sae_huggingface_loader`) also stores it unchanged as `W_skip`, but its
///   `SkipTranscoder` (`sae_lens/saes/transcoder.py`) computes `x @ self.W_skip.T`, i.e. the
///   transpose. The two disagree; the folders are square (d_in = d_out), so shapes cannot decide.
///   We follow the publisher's tutorial and circuit-tracer (x · W_skip). A public research log that
///   measured both on a real layer-45 `_affine` transcoder found the untransposed product explains
///   far more of the MLP output (0.69 vs 0.38 of its energy), which agrees.
///
/// Cross-layer transcoders: circuit-tracer's `load_gemma_scope_2_clt` stacks the per-layer files
/// and takes `w_dec[i, :, i:, :]`, so the Hub's `params_layer_{i}` holds `w_dec`
/// [d_sae, n_layers, d_model] with slots before i unused; files holding only the slots from i on,
/// [d_sae, n_layers − i, d_model], are read too. `b_dec` and `affine_skip_connection` of file i
/// belong to output layer i.
extension GemmaScope2 {
    static let paramsName = "params.safetensors"
    static let configName = "config.json"

    static func layerFileName(_ layer: Int) -> String { "params_layer_\(layer).safetensors" }

    /// A folder (or its params.safetensors) in the Gemma Scope 2 layout: params + config, or
    /// a cross-layer transcoder's params_layer_0.safetensors.
    public static func isFolder(_ path: String) -> Bool {
        let dir = directory(of: path) as NSString
        let fm = FileManager.default
        return fm.fileExists(atPath: dir.appendingPathComponent(paramsName)) && fm.fileExists(atPath: dir.appendingPathComponent(configName))
            || fm.fileExists(atPath: dir.appendingPathComponent(layerFileName(0)))
    }

    public static func isCrossLayerFolder(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: (directory(of: path) as NSString).appendingPathComponent(layerFileName(0)))
    }

    /// A path to params.safetensors or config.json stands for its folder.
    static func directory(of path: String) -> String {
        let name = (path as NSString).lastPathComponent
        return name == paramsName || name == configName ? (path as NSString).deletingLastPathComponent : path
    }

    /// Tensors of one params file, each checked for presence and shape with one clear line.
    struct Params {
        let file: SafetensorsFile
        var path: String { file.path }

        init(_ path: String) throws {
            guard FileManager.default.fileExists(atPath: path) else {
                throw LanternError.badFile(path: path, field: "file", problem: "does not exist")
            }
            file = try SafetensorsFile(path: path)
        }

        func has(_ name: String) -> Bool { file.has(name) }

        /// Checks every declared tensor's shape from the header (nothing is read yet) and returns
        /// the sizes, given and bound.
        func check(_ tensors: [TensorShapes.Tensor], sizes: [String: Int] = [:], origin: String = "") throws -> [String: Int] {
            try TensorShapes(tensors).check(path: path, sizes: sizes, origin: origin, shape: file.shapeIfPresent)
        }

        /// A tensor whose shape `check` has accepted.
        func values(_ name: String) throws -> [Float] { try file.tensor(name).floats() }
    }

    static let jumpReLUNeeds = " (a jump_relu folder needs it)"

    static func checkWidth(_ config: Config, dSAE: Int) throws {
        if let width = config.width, width != dSAE {
            throw LanternError.badFile(path: config.path, field: "width", problem: "\(width), but w_enc has \(dSAE) features")
        }
    }

    static func checkAffine(_ config: Config, present: Bool, params: String) throws {
        if let said = config.affineConnection, said != present {
            throw LanternError.badFile(path: config.path, field: "affine_connection",
                                       problem: "\(said), but \(params) \(present ? "has" : "has no") affine_skip_connection")
        }
    }

    /// A Gemma Scope 2 SAE (`resid_post/`, `attn_out/`, `mlp_out/`). `hook` overrides the hook
    /// its config names.
    public static func loadSAE(directory path: String, backend: any Backend, hook: String? = nil) throws -> SAE {
        let (config, weights, source) = try readSAE(directory: path, hook: hook)
        return try SAE(config: config, weights: weights, backend: backend, source: source)
    }

    /// The SAE as read from the files, before any backend holds it; `SAE.check` holds it to
    /// what a loaded SAE must be (the fuzz harness reads folders through this).
    public static func readSAE(directory path: String, hook: String? = nil) throws -> (config: SAEConfig, weights: SAEWeights, source: String) {
        let dir = directory(of: path) as NSString
        if isCrossLayerFolder(path) {
            throw LanternError.badFile(path: dir as String, field: "directory", problem: "holds a cross-layer transcoder (params_layer_*.safetensors), not an SAE")
        }
        let config = try readConfig(dir.appendingPathComponent(configName))
        if config.isTranscoder {
            throw LanternError.badFile(path: config.path, field: "hf_hook_point_out",
                                       problem: "'\(config.hfHookOut!)' differs from hf_hook_point_in: this folder is a transcoder, not an SAE")
        }
        let hookName = try hook ?? config.hook("hf_hook_point_in")
        let params = try Params(dir.appendingPathComponent(paramsName))
        if params.has("affine_skip_connection") {
            throw LanternError.badFile(path: params.path, field: "affine_skip_connection", problem: "present, but an SAE has no skip (is this a transcoder?)")
        }
        let jump = config.activation == .jumpReLU
        let sizes = try params.check([.init("w_enc", ["d_in", "d_sae"]), .init("w_dec", ["d_sae", "d_in"]), .init("b_enc", ["d_sae"]),
                                      .init("b_dec", ["d_in"])] + (jump ? [.init("threshold", ["d_sae"], why: jumpReLUNeeds)] : []))
        let (dIn, dSAE) = (sizes["d_in", default: 0], sizes["d_sae", default: 0])
        try checkWidth(config, dSAE: dSAE)
        let weights = SAEWeights(wEnc: try params.values("w_enc"), wDec: try params.values("w_dec"),
                                 bEnc: try params.values("b_enc"), bDec: try params.values("b_dec"),
                                 threshold: jump ? try params.values("threshold") : nil)
        let saeConfig = SAEConfig(dIn: dIn, dSAE: dSAE, activation: config.activation, applyBDecToInput: false,
                                  hookName: hookName, layer: SAE.layerInHook(hookName))
        return (saeConfig, weights, dir as String)
    }

    /// A Gemma Scope 2 transcoder (`transcoder/…`, `_affine` with the skip), or one Lantern wrote.
    public static func loadTranscoder(directory path: String, backend: any Backend) throws -> Transcoder {
        let (config, weights, source) = try readTranscoder(directory: path)
        return try Transcoder(config: config, weights: weights, backend: backend, source: source)
    }

    /// The transcoder as read from the files, before any backend holds it; `Transcoder.check`
    /// holds it to what a loaded transcoder must be.
    public static func readTranscoder(directory path: String) throws -> (config: TranscoderConfig, weights: TranscoderWeights, source: String) {
        let dir = directory(of: path) as NSString
        if isCrossLayerFolder(path) {
            throw LanternError.badFile(path: dir as String, field: "directory", problem: "holds a cross-layer transcoder (params_layer_*.safetensors); load it as one")
        }
        let config = try readConfig(dir.appendingPathComponent(configName))
        let inputHook = try config.hook("hf_hook_point_in"), outputHook = try config.hook("hf_hook_point_out")
        let params = try Params(dir.appendingPathComponent(paramsName))
        let jump = config.activation == .jumpReLU
        let hasSkip = params.has("affine_skip_connection")
        try checkAffine(config, present: hasSkip, params: params.path)
        let sizes = try params.check([.init("w_enc", ["d_in", "d_sae"]), .init("w_dec", ["d_sae", "d_out"]), .init("b_enc", ["d_sae"]),
                                      .init("b_dec", ["d_out"]), .init("affine_skip_connection", ["d_in", "d_out"], required: false)]
                                     + (jump ? [.init("threshold", ["d_sae"], why: jumpReLUNeeds)] : []))
        let (dIn, dSAE, dOut) = (sizes["d_in", default: 0], sizes["d_sae", default: 0], sizes["d_out", default: 0])
        try checkWidth(config, dSAE: dSAE)
        let weights = TranscoderWeights(
            wEnc: try params.values("w_enc"), wDec: try params.values("w_dec"),
            bEnc: try params.values("b_enc"), bDec: try params.values("b_dec"),
            threshold: jump ? try params.values("threshold") : nil,
            skip: hasSkip ? try params.values("affine_skip_connection") : nil)
        let tcConfig = TranscoderConfig(dIn: dIn, dSAE: dSAE, dOut: dOut, activation: config.activation,
                                        inputHook: inputHook, outputHook: outputHook)
        return (tcConfig, weights, dir as String)
    }

    /// A Gemma Scope 2 cross-layer transcoder: a folder of params_layer_0 … params_layer_{n−1}
    /// (and, optionally, a config.json; without one, layer i reads blocks.i.ln2.hook_normalized
    /// and writes blocks.i.hook_mlp_out, as SAELens maps the `clt/` folders).
    public static func loadCrossLayerTranscoder(directory path: String, backend: any Backend) throws -> CrossLayerTranscoder {
        let p = try readCrossLayerTranscoder(directory: path)
        return try CrossLayerTranscoder(layers: p.layers, dIn: p.dIn, dSAE: p.dSAE, dOut: p.dOut, activation: p.activation,
                                        inputHooks: p.inputHooks, outputHooks: p.outputHooks, backend: backend, source: p.source)
    }

    /// A cross-layer transcoder's parts as read from the files, before any backend holds them;
    /// `CrossLayerTranscoder.check` holds them to what a loaded one must be.
    public struct CrossLayerTranscoderParts: Sendable {
        public var layers: [CrossLayerTranscoderLayer]
        public var dIn, dSAE, dOut: Int
        public var activation: SAEActivation
        public var inputHooks, outputHooks: [String]
        public var source: String
    }

    public static func readCrossLayerTranscoder(directory path: String) throws -> CrossLayerTranscoderParts {
        let dir = directory(of: path) as NSString
        let fm = FileManager.default
        var n = 0
        while fm.fileExists(atPath: dir.appendingPathComponent(layerFileName(n))) { n += 1 }
        guard n > 0 else {
            throw LanternError.badFile(path: dir as String, field: "directory", problem: "holds no \(layerFileName(0)) (a cross-layer transcoder has one params_layer_{i}.safetensors per layer)")
        }
        let names = (try? fm.contentsOfDirectory(atPath: dir as String)) ?? []
        if let stray = names.compactMap({ name -> Int? in
            guard name.hasPrefix("params_layer_"), name.hasSuffix(".safetensors") else { return nil }
            return Int(name.dropFirst("params_layer_".count).dropLast(".safetensors".count))
        }).filter({ $0 >= n }).min() {
            throw LanternError.badFile(path: dir.appendingPathComponent(layerFileName(n)), field: "file",
                                       problem: "missing: the folder has \(layerFileName(stray)) but the layers must run 0…\(stray) without a gap")
        }
        let configPath = dir.appendingPathComponent(configName)
        let config = fm.fileExists(atPath: configPath) ? try readConfig(configPath) : nil
        func site(_ field: String, default fallback: String) throws -> String {
            guard let config, (field == "hf_hook_point_in" ? config.hfHookIn : config.hfHookOut) != nil else { return fallback }
            let hook = try config.hook(field)
            return String(hook.dropFirst("blocks.\(SAE.layerInHook(hook)!).".count))
        }
        let inSite = try site("hf_hook_point_in", default: "ln2.hook_normalized")
        let outSite = try site("hf_hook_point_out", default: "hook_mlp_out")
        var layers: [CrossLayerTranscoderLayer] = []
        var dims: (dIn: Int, dSAE: Int, dOut: Int)?
        var firstHasSkip = false
        let jump = (config?.activation ?? .jumpReLU) == .jumpReLU
        for i in 0..<n {
            let params = try Params(dir.appendingPathComponent(layerFileName(i)))
            let hasSkip = params.has("affine_skip_connection")
            if i == 0 { firstHasSkip = hasSkip }
            if let config { try checkAffine(config, present: hasSkip, params: params.path) }
            guard hasSkip == firstHasSkip else {
                throw LanternError.badFile(path: params.path, field: "affine_skip_connection", problem: "\(hasSkip ? "present" : "missing"), but params_layer_0 \(firstHasSkip ? "has" : "has no") one (every layer must agree)")
            }
            if i == 0, let enc = try params.file.shapeIfPresent("w_enc"), enc.count == 2,
               let dec = try params.file.shapeIfPresent("w_dec"), dec.count == 3 {
                // As per-layer transcoders: no empty dictionary (said before any shape is compared
                // with an empty one).
                for (field, size, value) in [("w_enc", "d_in", enc[0]), ("w_enc", "width", enc[1]), ("w_dec", "d_model", dec[2])] where value < 1 {
                    throw LanternError.badFile(path: params.path, field: field, problem: "\(field)'s \(size) is \(value): expected at least 1")
                }
            }
            // Every layer's shapes against params_layer_0's sizes (layer 0 binds them), all from
            // the headers; w_dec holds either every output slot or only those from layer i on.
            let given = dims.map { ["d_in": $0.dIn, "d_sae": $0.dSAE, "d_out": $0.dOut] } ?? [:]
            let sizes = try params.check([.init("w_enc", ["d_in", "d_sae"]), .init("b_enc", ["d_sae"]), .init("b_dec", ["d_out"]),
                                          .init("affine_skip_connection", ["d_in", "d_out"], required: hasSkip)]
                                         + (jump ? [.init("threshold", ["d_sae"], why: " (a jump_relu transcoder needs it)")] : []),
                                         sizes: i == 0 ? [:] : given, origin: layerFileName(0))
            guard let dec = try params.file.shapeIfPresent("w_dec") else {
                throw LanternError.badFile(path: params.path, field: "w_dec", problem: "missing")
            }
            let d = dims ?? (sizes["d_in", default: 0], sizes["d_sae", default: 0], dec.last ?? 0)
            if dims == nil {
                if d.dOut < 1 { throw LanternError.badFile(path: params.path, field: "w_dec", problem: "w_dec's d_model is \(d.dOut): expected at least 1") }
                // TopK's k within the width.
                if case let .topK(k)? = config?.activation, !(1...d.dSAE).contains(k) {
                    throw LanternError.badFile(path: configPath, field: "k", problem: "\(k) is outside 1…\(d.dSAE) (the transcoder's width)")
                }
            }
            dims = d
            let context = "\(n) layer files; params_layer_0 has w_enc [\(d.dIn), \(d.dSAE)] and d_model \(d.dOut)"
            guard dec == [d.dSAE, n, d.dOut] || dec == [d.dSAE, n - i, d.dOut] else {
                throw LanternError.badFile(path: params.path, field: "w_dec", problem: "shape \(dec), expected [\(d.dSAE), \(n), \(d.dOut)] or, from layer \(i) on, [\(d.dSAE), \(n - i), \(d.dOut)] (\(context))")
            }
            if i == 0, sizes["d_out"] != d.dOut {
                throw LanternError.badFile(path: params.path, field: "b_dec", problem: "\(sizes["d_out", default: 0]) values, but w_dec's d_model is \(d.dOut)")
            }
            let stored = try params.values("w_dec")
            let wDec = dec[1] == n - i ? stored : slots(stored, from: i, of: n, dSAE: d.dSAE, dOut: d.dOut)
            layers.append(CrossLayerTranscoderLayer(
                wEnc: try params.values("w_enc"), bEnc: try params.values("b_enc"),
                threshold: jump ? try params.values("threshold") : nil,
                wDec: wDec, bDec: try params.values("b_dec"),
                skip: hasSkip ? try params.values("affine_skip_connection") : nil))
        }
        if let config, let d = dims { try checkWidth(config, dSAE: d.dSAE) }
        let d = dims!
        let parts = CrossLayerTranscoderParts(layers: layers, dIn: d.dIn, dSAE: d.dSAE, dOut: d.dOut, activation: config?.activation ?? .jumpReLU,
                                              inputHooks: (0..<n).map { "blocks.\($0).\(inSite)" },
                                              outputHooks: (0..<n).map { "blocks.\($0).\(outSite)" }, source: dir as String)
        return parts
    }

    /// Slots from..<n of a [d_sae, n, d_out] decoder: [d_sae, n − from, d_out].
    static func slots(_ w: [Float], from: Int, of n: Int, dSAE: Int, dOut: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(dSAE * (n - from) * dOut)
        for f in 0..<dSAE { out.append(contentsOf: w[((f * n + from) * dOut)..<((f * n + n) * dOut)]) }
        return out
    }
}
