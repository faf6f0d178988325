import Foundation
import Formats
import LanternCore

/// Everything a cross-layer run needs to continue exactly where it stopped: settings, parameters
/// and normalisation, Adam's moments and step, the step and the dead-latent counters (the batch
/// order follows from the seed and the step).
public struct CrossLayerTrainerState: Sendable, Equatable {
    public var settings: SAETrainingSettings
    public var parameters: CrossLayerParameters
    public var adam: Adam
    public var step: Int
    public var rowsSinceFired: [[Int]]

    static let format = "lantern-clt-checkpoint-1"
    /// Layers a checkpoint may describe (far beyond any model Lantern runs).
    static let maxLayers = 1024

    /// Writes a safetensors file through a temporary file and a rename (a crash leaves the last one whole).
    public func save(path: String) throws {
        let p = parameters, n = p.layerCount, d = p.inputWidth
        var entries: [SafetensorsWriter.Entry] = []
        for (i, tensor) in p.tensors.enumerated() {
            entries.append(.init(name: tensor.name, shape: [tensor.values.count], values: tensor.values))
            entries.append(.init(name: "adam_m." + tensor.name, shape: [tensor.values.count], values: adam.firstMoments[i]))
            entries.append(.init(name: "adam_v." + tensor.name, shape: [tensor.values.count], values: adam.secondMoments[i]))
        }
        for (role, norms) in [("input", p.inputNormalization), ("target", p.targetNormalization)] {
            entries.append(.init(name: "\(role)_scale", shape: [n], values: norms.map(\.scale)))
            if settings.normalization != .scalar {
                entries.append(.init(name: "\(role)_shift", shape: [n, d], values: Array(norms.map(\.shift).joined())))
                entries.append(.init(name: "\(role)_dimension_scale", shape: [n, d], values: Array(norms.map(\.dimensionScale).joined())))
            }
        }
        // Counters are capped at the dead horizon, exact in f32.
        entries.append(.init(name: "rows_since_fired", shape: [n, p.width], values: rowsSinceFired.joined().map(Float.init)))
        let s = settings
        let metadata: [String: String] = [
            "format": Self.format, "layers": "\(n)", "width": "\(s.width)", "input_width": "\(d)", "k": "\(s.k)",
            "learning_rate": "\(s.learningRate)", "batch_size": "\(s.batchSize)", "tokens": "\(s.tokens)",
            "aux_k": "\(s.auxK)", "aux_coefficient": "\(s.auxCoefficient)", "dead_after_tokens": "\(s.deadAfterTokens)",
            "seed": "\(s.seed)", "normalization": s.normalization.rawValue, "step": "\(step)", "adam_step": "\(adam.step)",
        ]
        try CheckpointFile.write(entries, metadata: metadata, to: path)
    }

    /// Reads a checkpoint: the metadata's sizes are checked first, then every tensor's length
    /// against them from the header, before any value is read.
    public static func load(path: String) throws -> CrossLayerTrainerState {
        let file = try SafetensorsFile(path: path)
        let m = file.metadata
        func bad(_ field: String, _ problem: String) -> LanternError { .badFile(path: path, field: field, problem: problem) }
        func field<T: LosslessStringConvertible>(_ key: String, _: T.Type = T.self) throws -> T { try CheckpointFile.field(m, key, path: path) }
        guard m["format"] == format else { throw bad("format", "not a Lantern cross-layer transcoder checkpoint") }
        func count(_ key: String, _ range: ClosedRange<Int>) throws -> Int {
            let value: Int = try field(key)
            guard range.contains(value) else { throw bad(key, "\(value) is outside \(range.lowerBound)…\(range.upperBound)") }
            return value
        }
        let n = try count("layers", 1...maxLayers), s = try count("width", 1...SAETrainerState.maxWidth)
        let d = try count("input_width", 1...SAETrainerState.maxInputWidth)
        guard let normalization = InputNormalization(rawValue: m["normalization"] ?? "") else {
            throw bad("normalization", "expected scalar, per-dimension or per-dimension-sqrt")
        }
        var settings = SAETrainingSettings(
            architecture: .topk, width: s, k: try count("k", 1...s), learningRate: try field("learning_rate"),
            batchSize: try count("batch_size", 1...(1 << 24)), tokens: try count("tokens", 1...SAETrainerState.maxTokens),
            auxK: try count("aux_k", 1...s), auxCoefficient: try field("aux_coefficient"),
            deadAfterTokens: try count("dead_after_tokens", 1...SAETrainerState.maxTokens), seed: try field("seed"),
            normalization: normalization, inputWidth: d)
        settings.transcoder = true
        for (key, value) in [("learning_rate", settings.learningRate), ("aux_coefficient", settings.auxCoefficient)]
        where !(value.isFinite && value >= 0 && (key != "learning_rate" || value > 0)) {
            throw bad(key, "\(value): expected a finite number\(key == "learning_rate" ? " > 0" : " ≥ 0")")
        }
        let totalSteps = (settings.tokens + settings.batchSize - 1) / settings.batchSize
        let step = try count("step", 0...totalSteps), adamStep = try count("adam_step", 0...totalSteps)

        // Every tensor's length from the header, against the sizes above, before it is read.
        func values(_ name: String, _ length: Int, finite: Bool = true) throws -> [Float] {
            guard let shape = try file.shapeIfPresent(name) else { throw bad(name, "tensor is missing") }
            guard shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) == length else {
                throw bad(name, "shape \(shape): expected \(length) values for this run's sizes")
            }
            let v = try file.tensor(name).floats()
            if finite, let (index, value) = firstNonFinite(v) { throw bad(name, "holds \(value) at index \(index)") }
            return v
        }
        guard s.multipliedReportingOverflow(by: d).overflow == false else { throw bad("width", "\(s) × \(d) overflows") }
        let sd = s * d
        var p = CrossLayerParameters(layerCount: n, width: s, inputWidth: d, encoders: [], encoderBiases: [], decoders: [],
                                     decoderBiases: [], inputNormalization: [], targetNormalization: [])
        for i in 0..<n {
            p.encoders.append(try values("encoder.\(i)", sd))
            p.encoderBiases.append(try values("encoder_bias.\(i)", s))
            p.decoders.append(try (i..<n).map { j in try values("decoder.\(i).\(j)", sd) })
        }
        p.decoderBiases = try (0..<n).map { try values("decoder_bias.\($0)", d) }
        for role in ["input", "target"] {
            let scales = try values("\(role)_scale", n)
            if let bad = scales.firstIndex(where: { !($0 > 0) }) {
                throw self.bad(path, "\(role)_scale", "\(scales[bad]) at layer \(bad): expected a scale > 0")
            }
            var norms = scales.map { AffineNormalization(scale: $0) }
            if normalization != .scalar {
                let shift = try values("\(role)_shift", n * d), dimensionScale = try values("\(role)_dimension_scale", n * d)
                for l in 0..<n {
                    norms[l].shift = Array(shift[(l * d)..<((l + 1) * d)])
                    norms[l].dimensionScale = Array(dimensionScale[(l * d)..<((l + 1) * d)])
                }
            }
            if role == "input" { p.inputNormalization = norms } else { p.targetNormalization = norms }
        }
        var adam = Adam(learningRate: settings.learningRate, sizes: [])
        adam.step = adamStep
        for (name, tensor) in p.tensors {
            adam.firstMoments.append(try values("adam_m." + name, tensor.count))
            let second = try values("adam_v." + name, tensor.count)
            if let i = second.firstIndex(where: { $0 < 0 }) {
                throw bad("adam_v." + name, "a negative second moment at index \(i): it is a mean of squares")
            }
            adam.secondMoments.append(second)
        }
        let counters = try SAETrainerState.counters(try values("rows_since_fired", n * s, finite: false), path: path)
        let rowsSinceFired = (0..<n).map { Array(counters[($0 * s)..<(($0 + 1) * s)]) }
        return CrossLayerTrainerState(settings: settings, parameters: p, adam: adam, step: step, rowsSinceFired: rowsSinceFired)
    }

    private static func bad(_ path: String, _ field: String, _ problem: String) -> LanternError {
        .badFile(path: path, field: field, problem: problem)
    }
}
