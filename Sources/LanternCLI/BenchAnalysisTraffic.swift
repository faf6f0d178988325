import Foundation
import Lantern

extension Bench {
    /// On a device backend, what the analyses beyond the forward pass move, each on the same
    /// short prompt: the logit lens (summaries of every layer's logits), next-token losses (a max,
    /// a sum and the target per row and vocabulary slice) and an SAE of the default shape (random
    /// TopK weights at the middle layer's residual stream) encoded with its latents read back.
    func analysisTraffic(_ model: Transformer, prompt: [Int32], _ counter: any DeviceTrafficCounting) throws -> [(String, DeviceTraffic)] {
        let n = prompt.count
        func counted(_ body: () throws -> Void) throws -> DeviceTraffic {
            try body()  // the weights made resident first
            let before = counter.traffic
            try body()
            return counter.traffic - before
        }
        let lens = try counted { _ = try LogitLens.run(model, tokens: prompt, topK: 5, target: nil) }
        let losses = try counted { _ = try NextTokenLoss.crossEntropies(model, prompt, hooks: nil) }
        let c = model.config, layer = c.layerCount / 2, width = 4096, d = c.hiddenSize
        var random = SeededGenerator(seed: 7)
        let scale = 1 / Float(d).squareRoot()
        let weights = SAEWeights(wEnc: (0..<(d * width)).map { _ in Float.random(in: -scale..<scale, using: &random) },
                                 wDec: (0..<(width * d)).map { _ in Float.random(in: -scale..<scale, using: &random) },
                                 bEnc: [Float](repeating: 0, count: width), bDec: [Float](repeating: 0, count: d), threshold: nil)
        let hook = "blocks.\(layer).hook_resid_post"
        let sae = try SAE(config: SAEConfig(dIn: d, dSAE: width, activation: .topK(64), applyBDecToInput: false, hookName: hook, layer: layer),
                          weights: weights, backend: model.backend, source: "random SAE")
        let hooks = Hooks(capture: HookFilter([hook]))
        try model.forward(prompt, hooks: hooks, logits: .none, stopAfterLayer: layer)
        let x = hooks.activation(hook)!
        let latents = try counted { _ = try sae.activeLatents(try sae.encode(x)) }
        return [("lens (\(n) tokens)", lens), ("next-token losses (\(n) tokens)", losses),
                ("SAE latents (encode, TopK 64 of \(width), read back; \(n) tokens)", latents)]
    }
}
