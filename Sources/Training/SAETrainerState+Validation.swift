import Foundation
import LanternCore

/// A checkpoint is a file from disk: every number in it is checked against the run it describes
/// before the trainer's unchecked loops (Adam's update, the dead-latent counters) touch it. A
/// short tensor would be read past its end, a counter of NaN or 1e30 cannot become an Int, a step
/// past the end would mark the run finished and export it: each is one line naming the file and
/// the field instead.
extension SAETrainerState {
    /// Latents, input width and tokens a checkpoint may describe (far beyond any real run).
    static let maxWidth = 1 << 24, maxInputWidth = 1 << 20, maxTokens = 1 << 50

    func validated(path: String) throws -> SAETrainerState {
        func bad(_ field: String, _ problem: String) -> LanternError { .badFile(path: path, field: field, problem: problem) }
        let s = settings, p = parameters
        func count(_ field: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            guard range.contains(value) else { throw bad(field, "\(value) is outside \(range.lowerBound)…\(range.upperBound)") }
        }
        func number(_ field: String, _ value: Double, positive: Bool = false, atLeastZero: Bool = false) throws {
            guard value.isFinite, !positive || value > 0, !atLeastZero || value >= 0 else {
                throw bad(field, "\(value): expected a finite number\(positive ? " > 0" : atLeastZero ? " ≥ 0" : "")")
            }
        }
        try count("width", s.width, 1...Self.maxWidth)
        try count("input_width", p.inputWidth, 1...Self.maxInputWidth)
        guard p.width == s.width else { throw bad("width", "\(s.width) in the settings, \(p.width) in the parameters") }
        try count("batch_size", s.batchSize, 1...(1 << 24))
        try count("tokens", s.tokens, 1...Self.maxTokens)
        if s.architecture == .topk { try count("k", s.k, 1...s.width) }
        try count("aux_k", s.auxK, 1...s.width)
        try count("dead_after_tokens", s.deadAfterTokens, 1...Self.maxTokens)
        try number("learning_rate", Double(s.learningRate), positive: true)
        try number("bandwidth", Double(s.bandwidth), positive: true)
        try number("initial_threshold", Double(s.initialThreshold), positive: true)
        try number("aux_coefficient", Double(s.auxCoefficient), atLeastZero: true)
        try number("initial_sparsity_coefficient", s.sparsityCoefficient, atLeastZero: true)
        try number("sparsity_coefficient", sparsityCoefficient, atLeastZero: true)
        if let l0 = s.targetL0 { try number("target_l0", l0, positive: true) }
        try number("input_scale", Double(p.inputScale), positive: true)
        try number("target_scale", Double(p.targetScale), positive: true)
        let totalSteps = (s.tokens + s.batchSize - 1) / s.batchSize
        try count("step", step, 0...totalSteps)
        try count("adam_step", adam.step, 0...totalSteps)

        // Every tensor has the length the widths give it, and only finite values.
        let (d, n) = (p.inputWidth, s.width)
        let out = p.decoderBias.count
        if !s.transcoder, out != d { throw bad("decoder_bias", "\(out) values, expected \(d) (input_width)") }
        try count("decoder_bias", out, 1...Self.maxInputWidth)
        var expected: [(String, [Float], Int)] = [("encoder", p.encoder, n * d), ("encoder_bias", p.encoderBias, n),
                                                   ("decoder", p.decoder, n * out), ("decoder_bias", p.decoderBias, out)]
        if s.architecture == .jumprelu { expected.append(("log_threshold", p.logThreshold, n)) }
        if s.skipConnection { expected.append(("skip", p.skip, out * d)) }
        if s.normalization != .scalar {
            expected += [("input_shift", p.inputShift, d), ("dimension_scale", p.dimensionScale, d)]
            if s.transcoder { expected += [("target_shift", p.targetShift, out), ("target_dimension_scale", p.targetDimensionScale, out)] }
        }
        for (name, values, length) in expected { try tensor(name, values, length, bad) }
        let parameterLengths = p.tensors.map(\.values.count)
        for (kind, moments) in [("adam_m", adam.firstMoments), ("adam_v", adam.secondMoments)] {
            guard moments.count == parameterLengths.count else {
                throw bad(kind, "\(moments.count) tensors for \(parameterLengths.count) parameters")
            }
            for (i, (name, _)) in p.tensors.enumerated() { try tensor("\(kind).\(name)", moments[i], parameterLengths[i], bad) }
        }
        for ((name, _), moments) in zip(p.tensors, adam.secondMoments) {
            if let i = moments.firstIndex(where: { $0 < 0 }) {
                throw bad("adam_v.\(name)", "a negative second moment at index \(i): it is a mean of squares")
            }
        }
        guard rowsSinceFired.count == n else { throw bad("rows_since_fired", "\(rowsSinceFired.count) counters for \(n) latents") }
        return self
    }

    private func tensor(_ name: String, _ values: [Float], _ length: Int, _ bad: (String, String) -> LanternError) throws {
        guard values.count == length else { throw bad(name, "\(values.count) values, expected \(length) for this run's widths") }
        if let (index, value) = firstNonFinite(values) { throw bad(name, "holds \(value) at index \(index)") }
    }

    /// The dead-latent counters as stored (f32), checked before they become Ints.
    static func counters(_ values: [Float], path: String) throws -> [Int] {
        try values.enumerated().map { i, v in
            guard v.isFinite, v >= 0, v <= Float(maxTokens) else {
                throw LanternError.badFile(path: path, field: "rows_since_fired", problem: "\(v) at index \(i): expected a count of rows ≥ 0")
            }
            return Int(v)
        }
    }
}
