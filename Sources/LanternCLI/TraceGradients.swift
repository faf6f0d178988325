import ArgumentParser
import Foundation
import Lantern

/// `lantern trace --grad-target A --grad-baseline B`: the gradient of a logit difference with
/// respect to every saved hook activation, written beside it as `grad:{hook}`.
struct GradientOptions: ParsableArguments {
    @Option(name: .long, help: "Also save gradients of logit[target] − logit[baseline] (id, or text that is one token).")
    var gradTarget: String?
    @Option(name: .long, help: "The baseline token of the gradient's logit difference.")
    var gradBaseline: String?
    @Option(name: .long, help: "The position of the gradient's logit difference (default: the last).")
    var gradPosition: Int?

    var wanted: Bool { gradTarget != nil || gradBaseline != nil || gradPosition != nil }

    /// The metric, or one clear line when only part of it was given.
    func validate() throws {
        try OptionCheck.integer(gradPosition, "--grad-position", 0...1 << 20)
    }

    func metric(_ loaded: LanternModel) throws -> GradientMetric {
        guard let gradTarget, let gradBaseline else {
            throw ValidationError("gradients need both --grad-target and --grad-baseline")
        }
        return .logitDifference(target: try loaded.tokenID(gradTarget), baseline: try loaded.tokenID(gradBaseline),
                                position: gradPosition)
    }
}

extension Trace {
    /// The forward and backward pass; the activations, their gradients and the logits as entries.
    func gradientEntries(_ loaded: LanternModel, tokens: [Int32]) throws -> (entries: [SafetensorsWriter.Entry], metric: Float) {
        let transformer = loaded.transformer, backend = transformer.backend
        let result = try transformer.gradients(tokens: tokens, of: try gradients.metric(loaded), hooks: HookFilter(hooks))
        // Forward order, the attention patterns among them (activations only: they have no gradient).
        let order = HookNames.forwardIndex(layers: transformer.config.layerCount)
        var named: [(name: String, entries: [SafetensorsWriter.Entry])] = []
        for point in result.points {
            named.append((point.name, [.init(name: point.name, shape: point.activation.shape, values: try backend.read(point.activation)),
                                       .init(name: "grad:" + point.name, shape: point.gradient.shape, values: try backend.read(point.gradient))]))
        }
        for (name, pattern) in result.patterns {
            named.append((name, [.init(name: name, shape: pattern.shape, values: try backend.read(pattern))]))
        }
        var entries = named.sorted { order[$0.name, default: 0] < order[$1.name, default: 0] }.flatMap(\.entries)
        entries.append(.init(name: "logits", shape: result.logits.shape, values: try backend.read(result.logits)))
        return (entries, result.metric)
    }
}
