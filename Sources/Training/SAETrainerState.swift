import Foundation
import Formats
import LanternCore

/// Everything a training run needs to continue exactly where it stopped: settings, parameters,
/// Adam's moments and step, the step, the penalty weight and the dead-latent counters. (The batch
/// order is a function of the seed and the step, so the seed is the whole random state.)
public struct SAETrainerState: Sendable, Equatable {
    public var settings: SAETrainingSettings
    public var parameters: SAEParameters
    public var adam: Adam
    public var step: Int
    public var sparsityCoefficient: Double
    public var rowsSinceFired: [Int]

    /// Writes a safetensors file through a temporary file and a rename (a crash leaves the last
    /// checkpoint whole).
    public func save(path: String) throws {
        var entries = parameters.tensors.map { SafetensorsWriter.Entry(name: $0.name, shape: [$0.values.count], values: $0.values) }
        for (i, tensor) in parameters.tensors.enumerated() {
            entries.append(.init(name: "adam_m." + tensor.name, shape: [tensor.values.count], values: adam.firstMoments[i]))
            entries.append(.init(name: "adam_v." + tensor.name, shape: [tensor.values.count], values: adam.secondMoments[i]))
        }
        if !parameters.dimensionScale.isEmpty {
            entries.append(.init(name: "input_shift", shape: [parameters.inputWidth], values: parameters.inputShift))
            entries.append(.init(name: "dimension_scale", shape: [parameters.inputWidth], values: parameters.dimensionScale))
        }
        if !parameters.targetDimensionScale.isEmpty {
            entries.append(.init(name: "target_shift", shape: [parameters.inputWidth], values: parameters.targetShift))
            entries.append(.init(name: "target_dimension_scale", shape: [parameters.inputWidth], values: parameters.targetDimensionScale))
        }
        // Counters are capped at the dead horizon (≤ 10M), exact in f32.
        entries.append(.init(name: "rows_since_fired", shape: [rowsSinceFired.count], values: rowsSinceFired.map(Float.init)))
        let s = settings
        let metadata: [String: String] = [
            "format": "lantern-sae-checkpoint-1", "architecture": s.architecture.rawValue, "width": "\(s.width)",
            "input_width": "\(parameters.inputWidth)", "k": "\(s.k)", "target_l0": s.targetL0.map { "\($0)" } ?? "",
            "initial_sparsity_coefficient": "\(s.sparsityCoefficient)", "learning_rate": "\(s.learningRate)",
            "batch_size": "\(s.batchSize)", "tokens": "\(s.tokens)", "bandwidth": "\(s.bandwidth)",
            "initial_threshold": "\(s.initialThreshold)", "aux_k": "\(s.auxK)", "aux_coefficient": "\(s.auxCoefficient)",
            "dead_after_tokens": "\(s.deadAfterTokens)", "seed": "\(s.seed)", "normalization": s.normalization.rawValue,
            "step": "\(step)", "adam_step": "\(adam.step)", "sparsity_coefficient": "\(sparsityCoefficient)",
            "input_scale": "\(parameters.inputScale)", "transcoder": "\(s.transcoder)",
            "skip_connection": "\(s.skipConnection)", "target_scale": "\(parameters.targetScale)",
        ]
        try CheckpointFile.write(entries, metadata: metadata, to: path)
    }

    public static func load(path: String) throws -> SAETrainerState {
        let file = try SafetensorsFile(path: path)
        let m = file.metadata
        func field<T: LosslessStringConvertible>(_ key: String, _: T.Type = T.self) throws -> T {
            try CheckpointFile.field(m, key, path: path)
        }
        guard m["format"] == "lantern-sae-checkpoint-1" else {
            throw LanternError.badFile(path: path, field: "format", problem: "not a Lantern SAE checkpoint")
        }
        guard let architecture = SAEArchitecture(rawValue: m["architecture"] ?? "") else {
            throw LanternError.badFile(path: path, field: "architecture", problem: "unknown")
        }
        let inputWidth: Int = try field("input_width")
        let targetL0 = m["target_l0"].flatMap(Double.init)
        // Checkpoints from before per-dimension normalisation have no such field: scalar.
        guard let normalization = InputNormalization(rawValue: m["normalization"] ?? "scalar") else {
            throw LanternError.badFile(path: path, field: "normalization", problem: "expected scalar, per-dimension or per-dimension-sqrt")
        }
        var settings = SAETrainingSettings(
            architecture: architecture, width: try field("width"), k: try field("k"), targetL0: targetL0,
            sparsityCoefficient: try field("initial_sparsity_coefficient", Double.self), learningRate: try field("learning_rate"),
            batchSize: try field("batch_size"), tokens: try field("tokens"), bandwidth: try field("bandwidth"),
            initialThreshold: try field("initial_threshold"), auxK: try field("aux_k", Int.self),
            auxCoefficient: try field("aux_coefficient"), deadAfterTokens: try field("dead_after_tokens", Int.self),
            seed: try field("seed"), normalization: normalization,
            inputWidth: inputWidth)
        // Checkpoints from before transcoders have none of their fields: an SAE.
        settings.transcoder = m["transcoder"] == "true"
        settings.skipConnection = m["skip_connection"] == "true"
        func floats(_ name: String) throws -> [Float] { try file.tensor(name).floats() }
        let names = ["encoder", "encoder_bias", "decoder", "decoder_bias"] + (architecture == .jumprelu ? ["log_threshold"] : [])
            + (settings.skipConnection ? ["skip"] : [])
        var parameters = SAEParameters(
            inputWidth: inputWidth, width: settings.width, encoder: try floats("encoder"), encoderBias: try floats("encoder_bias"),
            decoder: try floats("decoder"), decoderBias: try floats("decoder_bias"),
            logThreshold: architecture == .jumprelu ? try floats("log_threshold") : [], inputScale: try field("input_scale"),
            inputShift: settings.normalization != .scalar ? try floats("input_shift") : [],
            dimensionScale: settings.normalization != .scalar ? try floats("dimension_scale") : [])
        parameters.centersInput = !settings.transcoder
        parameters.targetScale = settings.transcoder ? try field("target_scale") : 1
        parameters.skip = settings.skipConnection ? try floats("skip") : []
        if settings.transcoder && settings.normalization != .scalar {
            parameters.targetShift = try floats("target_shift")
            parameters.targetDimensionScale = try floats("target_dimension_scale")
        }
        var adam = Adam(learningRate: settings.learningRate, sizes: [])
        adam.step = try field("adam_step")
        adam.firstMoments = try names.map { try floats("adam_m." + $0) }
        adam.secondMoments = try names.map { try floats("adam_v." + $0) }
        return try SAETrainerState(settings: settings, parameters: parameters, adam: adam, step: try field("step"),
                                   sparsityCoefficient: try field("sparsity_coefficient"),
                                   rowsSinceFired: try counters(try floats("rows_since_fired"), path: path)).validated(path: path)
    }
}
