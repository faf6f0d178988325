import Foundation
import Formats
import LanternCore
import Models

/// The tuned-lens package's `config.json` (Belrose et al. 2023, arXiv 2303.08112), field for field.
public struct TunedLensConfig: Sendable, Equatable {
    public var baseModel: String
    public var dModel: Int
    /// Translators: one per lens row but the last (hook_embed, blocks.0 … blocks.{L−2}.hook_resid_post).
    public var layerCount: Int
    public var bias = true
    public var baseModelRevision: String?
    public var unembedHash: String?
    public var lensType = "linear_tuned_lens"

    public init(baseModel: String, dModel: Int, layerCount: Int) {
        self.baseModel = baseModel
        self.dModel = dModel
        self.layerCount = layerCount
    }

    var json: [String: Any] {
        ["base_model_name_or_path": baseModel, "d_model": dModel, "num_hidden_layers": layerCount, "bias": bias,
         "base_model_revision": baseModelRevision ?? NSNull(), "unembed_hash": unembedHash ?? NSNull(), "lens_type": lensType]
    }
}

/// A tuned lens: per residual row i (i = 0 is hook_embed = HF hidden_states[0], i ≥ 1 is
/// blocks.{i−1}.hook_resid_post = hidden_states[i]) an affine translator acting residually,
///     h ↦ h + h·Wᵢᵀ + bᵢ      (torch's Linear convention: Wᵢ is [out, in]),
/// whose output goes through the model's own final norm and unembedding (and Gemma 2's softcap).
/// The last row is the model's output and has no translator. All-zero translators are the logit lens.
///
/// Stored as a folder: `config.json` with the tuned-lens package's fields and `params.safetensors`
/// with its state-dict names, `{i}.weight` [d, d] and `{i}.bias` [d] (f16 or f32);
/// `tools/convert_tuned_lens.py` turns the package's `params.pt` into that.
public struct TunedLens: Sendable {
    public static let paramsFile = "params.safetensors"

    public var config: TunedLensConfig
    /// Wᵢ row-major [d, d], out = h·Wᵢᵀ.
    public var weights: [[Float]]
    public var biases: [[Float]]
    /// Where it was read from ("" when made in memory).
    public var source = ""

    /// Zero translators: the logit lens, where training starts.
    public init(config: TunedLensConfig) {
        self.config = config
        weights = Array(repeating: [Float](repeating: 0, count: config.dModel * config.dModel), count: config.layerCount)
        biases = Array(repeating: [Float](repeating: 0, count: config.dModel), count: config.layerCount)
    }

    /// A zero-initialised lens for `model`.
    public init(for model: Transformer, name: String) {
        self.init(config: TunedLensConfig(baseModel: name, dModel: model.config.hiddenSize, layerCount: model.config.layerCount))
    }

    /// The tuned-lens package's config.json, as Lantern reads it.
    static let configSchema = ConfigSchema([
        .init("base_model_name_or_path", .string),
        .init("d_model", .integer(1...(1 << 20)), .required()),
        .init("num_hidden_layers", .integer(1...(1 << 20)), .required()),
        .init("bias", .boolean, .defaultValue(.bool(true))),
        .init("base_model_revision", .string),
        .init("unembed_hash", .string),
        .init("lens_type", .choice(["linear_tuned_lens"], expected: "linear_tuned_lens"), .defaultValue(.string("linear_tuned_lens"))),
    ])

    /// Reads a folder (config.json + params.safetensors).
    public static func load(directory: String) throws -> TunedLens {
        let configPath = (directory as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw LanternError.badFile(path: configPath, field: "file", problem: "cannot read (a tuned lens is a folder with config.json and \(paramsFile))")
        }
        let json = try configSchema.read(path: configPath)
        var config = TunedLensConfig(baseModel: try json.string("base_model_name_or_path") ?? "",
                                     dModel: try json.required("d_model", json.int), layerCount: try json.required("num_hidden_layers", json.int))
        config.bias = try json.required("bias", json.bool)
        config.baseModelRevision = try json.string("base_model_revision")
        config.unembedHash = try json.string("unembed_hash")
        config.lensType = try json.required("lens_type", json.string)
        let paramsPath = (directory as NSString).appendingPathComponent(paramsFile)
        if !FileManager.default.fileExists(atPath: paramsPath),
           FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("params.pt")) {
            throw LanternError.badFile(path: paramsPath, field: "file", problem: "missing; this folder has the package's params.pt: convert it with tools/convert_tuned_lens.py")
        }
        let file = try SafetensorsFile(path: paramsPath)
        let d = config.dModel
        // Every tensor is one the config implies, with its shape, before anything is allocated:
        // the shapes come from the file, so d × d floats are known to be there.
        let expected = Set((0..<config.layerCount).flatMap { ["\($0).weight"] + (config.bias ? ["\($0).bias"] : []) })
        for name in file.tensorNames where !expected.contains(name) {
            let problem = name.hasSuffix(".bias") && !config.bias
                ? "present, but config.json says bias: false"
                : (name == "\(config.layerCount).weight" ? "more translators than num_hidden_layers = \(config.layerCount)"
                                                          : "not a tensor of a tuned lens with \(config.layerCount) layers (expected {i}.weight\(config.bias ? ", {i}.bias" : ""))")
            throw LanternError.badFile(path: paramsPath, field: name, problem: problem)
        }
        try TensorShapes((0..<config.layerCount).flatMap { i -> [TensorShapes.Tensor] in
            [.init("\(i).weight", ["d_model", "d_model"])] + (config.bias ? [.init("\(i).bias", ["d_model"])] : [])
        }).check(path: paramsPath, sizes: ["d_model": d], origin: "config.json", shape: file.shapeIfPresent)
        func values(_ name: String) throws -> [Float] { try finite(try file.tensor(name).floats(), name, paramsPath) }
        let weights = try (0..<config.layerCount).map { try values("\($0).weight") }
        let biases = try (0..<config.layerCount).map { config.bias ? try values("\($0).bias") : [Float](repeating: 0, count: d) }
        var lens = TunedLens(config: config, weights: weights, biases: biases)
        lens.source = directory
        return lens
    }

    /// `values`, or one line naming the tensor's first NaN or ±∞ (or a value no product can hold).
    private static func finite(_ values: [Float], _ name: String, _ path: String) throws -> [Float] {
        if let (index, value) = firstNonFinite(values) {
            throw LanternError.badFile(path: path, field: name, problem: "holds \(value) at index \(index): a lens's weights must be finite")
        }
        if let index = values.firstIndex(where: { abs($0) > 1e30 }) {
            throw LanternError.badFile(path: path, field: name, problem: "holds \(values[index]) at index \(index): too large to be a lens weight (|w| ≤ 1e30)")
        }
        return values
    }

    /// A lens from weights already checked against `config`.
    private init(config: TunedLensConfig, weights: [[Float]], biases: [[Float]]) {
        self.config = config
        self.weights = weights
        self.biases = biases
    }

    /// Writes config.json (plus `extra` keys, e.g. how it was trained) and params.safetensors.
    public func save(directory: String, dtype: DType = .f16, extra: [String: Any] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let d = config.dModel
        var entries: [SafetensorsWriter.Entry] = []
        for i in 0..<config.layerCount {
            entries.append(.init(name: "\(i).weight", shape: [d, d], values: weights[i], dtype: dtype))
            if config.bias { entries.append(.init(name: "\(i).bias", shape: [d], values: biases[i], dtype: dtype)) }
        }
        try SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: (directory as NSString).appendingPathComponent(Self.paramsFile))
        let json = config.json.merging(extra) { a, _ in a }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("config.json")), options: .atomic)
    }

    /// Refuses a lens made for another shape of model.
    public func check(against model: ModelConfig) throws {
        let where_ = source.isEmpty ? "the tuned lens" : source
        guard config.dModel == model.hiddenSize else {
            throw LanternError.badFile(path: where_, field: "d_model", problem: "\(config.dModel), but the model's hidden size is \(model.hiddenSize)")
        }
        guard config.layerCount == model.layerCount else {
            throw LanternError.badFile(path: where_, field: "num_hidden_layers", problem: "\(config.layerCount), but the model has \(model.layerCount) layers")
        }
    }

    /// h + h·Wᵢᵀ + bᵢ for residual rows h [n, d] of lens row `row` (0 = hook_embed); the last row
    /// (row = layer count) has no translator and comes back unchanged.
    public func translate(_ residual: Tensor, row: Int, backend: any Backend) throws -> Tensor {
        if row == config.layerCount { return residual }
        guard (0..<config.layerCount).contains(row) else {
            throw LanternError.invalidArgument("tuned lens row \(row) is out of range 0...\(config.layerCount)")
        }
        let d = config.dModel
        let w = try backend.tensor(weights[row], shape: [d, d])
        var out = try backend.add(residual, try backend.matmul(residual, w))
        if config.bias { out = try backend.add(out, try backend.tensor(biases[row], shape: [d])) }
        return out
    }

    /// The tuned lens's logits [n, vocab] for residual rows of lens row `row`.
    public func logits(_ model: Transformer, residual: Tensor, row: Int) throws -> Tensor {
        try LogitLens.logits(model, residual: try translate(residual, row: row, backend: model.backend))
    }
}
