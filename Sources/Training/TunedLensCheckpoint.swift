import Foundation
import Formats
import LanternCore

/// Where a tuned-lens run stands, to continue it exactly: the translators in the scaled units Adam
/// moves (f32: Ŵ[o][i] = W[o][i]·σᵢ/σₒ, b̂ = b/σ, so that the resumed run computes the same W and b
/// bit for bit), each row's per-dimension residual scales σ, Adam's moments and step, the steps
/// done, and the run's options (a resumed run must have the same ones: the schedule and the
/// contexts it reads follow from them).
public struct TunedLensCheckpoint: Sendable, Equatable {
    public var options: TunedLensTrainer.Options
    public var step: Int
    /// Ŵ and b̂ per row, in units of the row's residual scales.
    public var weights: [[Float]]
    public var biases: [[Float]]
    public var scales: [[Float]]
    /// Per row: the weight's and the bias's Adam (moments and step).
    public var weightAdam: [Adam]
    public var biasAdam: [Adam]

    static let format = "lantern-tuned-lens-checkpoint-1"

    /// Writes a safetensors file through a temporary file and a rename (a crash leaves the last one whole).
    public func save(path: String) throws {
        var entries: [SafetensorsWriter.Entry] = []
        for row in weights.indices {
            let d = biases[row].count
            entries += [
                .init(name: "\(row).unit_weight", shape: [d, d], values: weights[row]), .init(name: "\(row).unit_bias", shape: [d], values: biases[row]),
                .init(name: "\(row).scale", shape: [d], values: scales[row]),
                .init(name: "\(row).weight.adam_m", shape: [d, d], values: weightAdam[row].firstMoments[0]),
                .init(name: "\(row).weight.adam_v", shape: [d, d], values: weightAdam[row].secondMoments[0]),
                .init(name: "\(row).bias.adam_m", shape: [d], values: biasAdam[row].firstMoments[0]),
                .init(name: "\(row).bias.adam_v", shape: [d], values: biasAdam[row].secondMoments[0]),
            ]
        }
        let o = options
        let metadata: [String: String] = [
            "format": Self.format, "rows": "\(weights.count)", "d_model": "\(biases.first?.count ?? 0)", "step": "\(step)",
            "weight_adam_step": "\(weightAdam.first?.step ?? 0)", "bias_adam_step": "\(biasAdam.first?.step ?? 0)",
            "tokens": "\(o.tokens)", "context": "\(o.context)", "contexts_per_step": "\(o.contextsPerStep)",
            "learning_rate": "\(o.learningRate)", "include_bos": "\(o.includeBOS)", "context_stride": "\(o.contextStride)",
        ]
        try CheckpointFile.write(entries, metadata: metadata, to: path)
    }

    /// Reads a checkpoint, every size checked against the rows and width its metadata gives
    /// before anything is kept.
    public static func load(path: String) throws -> TunedLensCheckpoint {
        let file = try SafetensorsFile(path: path)
        let m = file.metadata
        func field<T: LosslessStringConvertible>(_ key: String, _: T.Type = T.self) throws -> T {
            try CheckpointFile.field(m, key, path: path)
        }
        guard m["format"] == format else { throw LanternError.badFile(path: path, field: "format", problem: "not a Lantern tuned-lens checkpoint") }
        let rows: Int = try field("rows"), d: Int = try field("d_model"), step: Int = try field("step")
        let options = TunedLensTrainer.Options(tokens: try field("tokens"), context: try field("context"),
                                               contextsPerStep: try field("contexts_per_step"), learningRate: try field("learning_rate"),
                                               includeBOS: try field("include_bos"), contextStride: try field("context_stride"))
        guard (1...4096).contains(rows), (1...65536).contains(d) else {
            throw LanternError.badFile(path: path, field: "rows", problem: "\(rows) rows of width \(d): expected 1…4096 rows of width 1…65536")
        }
        guard options.tokens > 0, options.context >= 2, options.contextsPerStep > 0, options.contextStride > 0,
              options.learningRate > 0, options.learningRate.isFinite, (0...options.steps).contains(step) else {
            throw LanternError.badFile(path: path, field: "step", problem: "the run's options or step \(step) are out of range")
        }
        let adamSteps = (weight: try field("weight_adam_step", Int.self), bias: try field("bias_adam_step", Int.self))
        guard (0...step).contains(adamSteps.weight), (0...step).contains(adamSteps.bias) else {
            throw LanternError.badFile(path: path, field: "weight_adam_step", problem: "Adam's steps exceed the run's \(step)")
        }
        func values(_ name: String, _ count: Int) throws -> [Float] {
            let v = try file.tensor(name).floats()  // as many as the file's bytes hold
            guard v.count == count else {
                throw LanternError.badFile(path: path, field: name, problem: "\(v.count) values, expected \(count)")
            }
            return v
        }
        var checkpoint = TunedLensCheckpoint(options: options, step: step, weights: [], biases: [], scales: [], weightAdam: [], biasAdam: [])
        for row in 0..<rows {
            checkpoint.weights.append(try values("\(row).unit_weight", d * d))
            checkpoint.biases.append(try values("\(row).unit_bias", d))
            let scale = try values("\(row).scale", d)
            guard scale.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw LanternError.badFile(path: path, field: "\(row).scale", problem: "scales must be positive and finite")
            }
            checkpoint.scales.append(scale)
            var weightAdam = Adam(learningRate: options.learningRate, sizes: [])
            weightAdam.step = adamSteps.weight
            weightAdam.firstMoments = [try values("\(row).weight.adam_m", d * d)]
            weightAdam.secondMoments = [try values("\(row).weight.adam_v", d * d)]
            var biasAdam = Adam(learningRate: options.learningRate, sizes: [])
            biasAdam.step = adamSteps.bias
            biasAdam.firstMoments = [try values("\(row).bias.adam_m", d)]
            biasAdam.secondMoments = [try values("\(row).bias.adam_v", d)]
            checkpoint.weightAdam.append(weightAdam)
            checkpoint.biasAdam.append(biasAdam)
        }
        return checkpoint
    }
}
