import Foundation
import Formats
import LanternCore

/// Where an end-to-end SAE fine-tuning run stands, to continue it exactly: the training-space
/// parameters and their normalisation, Adam's moments and step, the steps done and the run's
/// options (a resumed run must have the same ones: the schedule and the contexts it reads follow
/// from them).
public struct SAEKLCheckpoint: Sendable, Equatable {
    public var options: SAEKLFinetuner.Options
    public var step: Int
    public var parameters: SAEParameters
    public var adam: Adam

    static let format = "lantern-sae-kl-checkpoint-1"
    static let tensorNames = ["encoder", "encoder_bias", "decoder", "decoder_bias"]

    public func save(path: String) throws {
        let p = parameters, d = p.inputWidth, s = p.width
        let shapes = [[s, d], [s], [s, d], [d]]
        var entries: [SafetensorsWriter.Entry] = []
        for (i, t) in p.tensors.prefix(4).enumerated() {
            entries += [.init(name: t.name, shape: shapes[i], values: t.values),
                        .init(name: "\(t.name).adam_m", shape: shapes[i], values: adam.firstMoments[i]),
                        .init(name: "\(t.name).adam_v", shape: shapes[i], values: adam.secondMoments[i])]
        }
        entries += [.init(name: "input_shift", shape: [d], values: p.inputShift), .init(name: "dimension_scale", shape: [d], values: p.dimensionScale),
                    .init(name: "input_scale", shape: [1], values: [p.inputScale])]
        let o = options
        let metadata = [
            "format": Self.format, "d_in": "\(d)", "d_sae": "\(s)", "step": "\(step)", "adam_step": "\(adam.step)",
            "tokens": "\(o.tokens)", "context": "\(o.context)", "contexts_per_step": "\(o.contextsPerStep)",
            "learning_rate": "\(o.learningRate)", "reconstruction_weight": "\(o.reconstructionWeight)", "context_stride": "\(o.contextStride)",
        ]
        try CheckpointFile.write(entries, metadata: metadata, to: path)
    }

    /// Reads a checkpoint, every size checked against the widths its metadata gives before
    /// anything is kept.
    public static func load(path: String) throws -> SAEKLCheckpoint {
        let file = try SafetensorsFile(path: path)
        let m = file.metadata
        func field<T: LosslessStringConvertible>(_ key: String, _: T.Type = T.self) throws -> T {
            try CheckpointFile.field(m, key, path: path)
        }
        guard m["format"] == format else { throw LanternError.badFile(path: path, field: "format", problem: "not a Lantern SAE fine-tuning checkpoint") }
        let d: Int = try field("d_in"), s: Int = try field("d_sae"), step: Int = try field("step"), adamStep: Int = try field("adam_step")
        guard (1...65536).contains(d), (1...(1 << 24)).contains(s), d * s <= 1 << 31 else {
            throw LanternError.badFile(path: path, field: "d_sae", problem: "\(s) latents of width \(d): expected 1…65536 wide, at most 2³¹ weights")
        }
        let options = SAEKLFinetuner.Options(tokens: try field("tokens"), context: try field("context"), contextsPerStep: try field("contexts_per_step"),
                                             learningRate: try field("learning_rate"), reconstructionWeight: try field("reconstruction_weight"),
                                             contextStride: try field("context_stride"))
        guard options.tokens > 0, options.context >= 2, options.contextsPerStep > 0, options.contextStride > 0,
              options.learningRate > 0, options.learningRate.isFinite, options.reconstructionWeight >= 0, options.reconstructionWeight.isFinite,
              (0...options.steps).contains(step), adamStep == step else {
            throw LanternError.badFile(path: path, field: "step", problem: "the run's options or step \(step) (Adam's \(adamStep)) are out of range")
        }
        func values(_ name: String, _ count: Int) throws -> [Float] {
            let v = try file.tensor(name).floats()
            guard v.count == count else { throw LanternError.badFile(path: path, field: name, problem: "\(v.count) values, expected \(count)") }
            guard v.allSatisfy(\.isFinite) else { throw LanternError.badFile(path: path, field: name, problem: "values must be finite") }
            return v
        }
        let sizes = [s * d, s, s * d, d]
        var tensors: [[Float]] = [], adam = Adam(learningRate: options.learningRate, sizes: [])
        adam.step = adamStep
        for (name, size) in zip(tensorNames, sizes) {
            tensors.append(try values(name, size))
            adam.firstMoments.append(try values("\(name).adam_m", size))
            adam.secondMoments.append(try values("\(name).adam_v", size))
        }
        let scale = try values("input_scale", 1)[0], dimensionScale = try values("dimension_scale", d)
        guard scale > 0, dimensionScale.allSatisfy({ $0 > 0 }) else {
            throw LanternError.badFile(path: path, field: "dimension_scale", problem: "the normalisation's scales must be positive")
        }
        let p = SAEParameters(inputWidth: d, width: s, encoder: tensors[0], encoderBias: tensors[1], decoder: tensors[2], decoderBias: tensors[3],
                              logThreshold: [], inputScale: scale, inputShift: try values("input_shift", d), dimensionScale: dimensionScale)
        return SAEKLCheckpoint(options: options, step: step, parameters: p, adam: adam)
    }
}
