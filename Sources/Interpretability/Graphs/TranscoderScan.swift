import Foundation
import LanternCore
import Models

/// Top activating corpus contexts of every layer's transcoder features, from one forward pass per
/// context (all layers' feature inputs captured together), so an attribution graph's page can say
/// what each feature responds to. One `FeatureScan` per layer.
public final class TranscoderScan {
    public let transcoders: [Transcoder]
    public let scans: [FeatureScan]

    /// `options.histogramSample` is set to 0: the graph shows examples, not histograms, and 18
    /// layers × thousands of features of samples would dominate memory.
    public init(transcoders: [Transcoder], bos: Int32?, options: FeatureScan.Options = FeatureScan.Options()) {
        var options = options
        options.histogramSample = 0
        self.transcoders = transcoders
        scans = transcoders.map { FeatureScan(width: $0.dSAE, bos: bos, options: options) }
    }

    /// Runs one context (up to the last transcoder's layer) and adds every layer's activations.
    public func add(context tokens: [Int32], model: Transformer) throws {
        let inputs = transcoders.map(\.config.inputHook)
        let hooks = Hooks(capture: HookFilter(inputs))
        let deepest = transcoders.compactMap(\.config.layer).max() ?? (model.config.layerCount - 1)
        try model.forward(tokens, hooks: hooks, logits: .none, stopAfterLayer: deepest)
        let captured = Dictionary(hooks.captured.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        for (t, scan) in zip(transcoders, scans) {
            guard let x = captured[t.config.inputHook] else {
                throw LanternError.backend("the forward pass did not produce \(t.config.inputHook)")
            }
            scan.add(activations: try t.activeLatents(try t.encode(x)).dense(), tokens: tokens)
        }
    }

    /// Feature `feature` of layer `layer`'s strongest examples, each one line of text (line breaks
    /// shown as ⏎) with the maximum's token in «», at most `count`.
    public func contexts(layer: Int, feature: Int, count: Int = 3, text: (Int32) -> String) -> [String] {
        guard scans.indices.contains(layer), feature >= 0, feature < scans[layer].width else { return [] }
        return scans[layer].examples(feature).prefix(count).map { example in
            let body = example.tokens.enumerated().map { i, token in
                let shown = text(token).replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\n", with: "⏎")
                return i == example.maxIndex ? "«\(shown)»" : shown
            }.joined()
            return String(format: "%.2f: ", Double(example.maxActivation)) + body
        }
    }
}
