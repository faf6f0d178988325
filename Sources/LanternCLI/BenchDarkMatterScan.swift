import Foundation
import Lantern

/// The whole-model dark-matter scan, measured. An SAE 16 × d_model wide
/// (TopK, k = 64) on every layer's resid_post, at every token of a 128-token context, each layer's
/// reconstruction error (its dark matter) read back, against the same forward pass with the same
/// residuals read and no SAEs. Neither computes logits. The SAEs' weights are random (one per
/// layer): the cost does not depend on their values, only on how many bf16 pieces hold them.
extension Bench {
    struct DarkMatterScan {
        /// With f32 weights, and with weights that are bf16 values (as SAEs are often shipped and
        /// read): AMX splits those into one bf16 piece instead of three.
        let scanSeconds: Double, bf16Seconds: Double, forwardSeconds: Double, width: Int, layers: Int
        /// The encoders' multiply-adds per token and layer, over the block's own (its weight products).
        let encoderShare: Double
        var ratio: Double { scanSeconds / forwardSeconds }
        var bf16Ratio: Double { bf16Seconds / forwardSeconds }

        func printLine(tokens: Int) {
            print(String(format: "  dark-matter scan, %d tokens, a %d-wide TopK-64 SAE on each of the %d resid_posts: the forward pass alone %.3f s;",
                         tokens, width, layers, forwardSeconds))
            print(String(format: "    f32 SAE weights %.3f s, ratio %.2f×; bf16 values %.3f s, ratio %.2f×", scanSeconds, ratio, bf16Seconds, bf16Ratio))
            print(String(format: "    (each encoder is %.2f× its block's multiply-adds: run at the forward pass's rate, the scan's ratio is %.2f×)",
                         encoderShare, 1 + encoderShare))
        }

        var json: [String: Any] {
            ["dark_matter_scan_seconds": scanSeconds, "dark_matter_scan_forward_seconds": forwardSeconds, "dark_matter_scan_ratio": ratio,
             "dark_matter_scan_bf16_seconds": bf16Seconds, "dark_matter_scan_bf16_ratio": bf16Ratio, "dark_matter_scan_sae_width": width,
             "dark_matter_scan_encoder_share": encoderShare]
        }
    }

    /// `bench --only scan`: the scan alone, the model's weights widened as the scan commands keep them.
    func scanBench(_ backend: any Backend, spec: String) throws -> [String: Any] {
        let model = try LanternModel.load(try ModelStore().resolve(spec) { note($0) }, backend: backend).transformer
        let cpu = backend as? CPUBackend
        cpu?.widenWeights()
        defer { cpu?.widenWeights(upTo: 0) }
        let tokens = (0..<traceLength).map { Int32(3 + ($0 * 7919) % (model.config.vocabSize - 3)) }
        let scan = try darkMatterScanBench(model, tokens: tokens)
        if !json {
            print("scan: \(spec) (\(backend.name))")
            scan.printLine(tokens: traceLength)
        }
        return scan.json.merging(["model": spec, "backend": backend.name]) { $1 }
    }

    func darkMatterScanBench(_ model: Transformer, tokens: [Int32]) throws -> DarkMatterScan {
        let c = model.config, b = model.backend, d = c.hiddenSize, width = 16 * d
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func random(_ count: Int, bf16: Bool) -> [Float] {
            let scale = 1 / Float(d).squareRoot()
            return (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let value = (Float(state >> 40) / Float(1 << 24) - 0.5) * scale
                return bf16 ? Float(bitPattern: value.bitPattern & 0xFFFF_0000) : value
            }
        }
        let names = (0..<c.layerCount).map { "blocks.\($0).hook_resid_post" }
        func saes(bf16: Bool) throws -> [SAE] {
            try names.enumerated().map { layer, name in
                try SAE(config: SAEConfig(dIn: d, dSAE: width, activation: .topK(64), applyBDecToInput: false, hookName: name, layer: layer),
                        weights: SAEWeights(wEnc: random(d * width, bf16: bf16), wDec: random(width * d, bf16: bf16),
                                            bEnc: [Float](repeating: 0, count: width), bDec: [Float](repeating: 0, count: d), threshold: nil),
                        backend: b, source: "random SAE for bench")
            }
        }
        func forward() throws -> Hooks {
            let hooks = Hooks(capture: HookFilter(names))
            try model.forward(tokens, hooks: hooks, logits: .none)
            return hooks
        }
        func scan(_ saes: [SAE]) throws -> Double {
            try bestTime(atLeast: 3) {
                let hooks = try forward()
                for (name, sae) in zip(names, saes) {
                    let x = hooks.activation(name)!
                    _ = try b.read(try b.add(x, try b.scale(try sae.decode(try sae.encode(x)), by: -1)))
                }
            }
        }
        let plain = try bestTime(atLeast: 3) {
            let hooks = try forward()
            for name in names { _ = try b.read(hooks.activation(name)!) }
        }
        // One set of SAEs at a time: each is 1.4 GB of f32 for the default model.
        let f32 = try scan(try saes(bf16: false))
        let bf16 = try scan(try saes(bf16: true))
        return DarkMatterScan(scanSeconds: f32, bf16Seconds: bf16, forwardSeconds: plain, width: width, layers: names.count,
                              encoderShare: Double(width * d) / Double(max(1, model.blockMultiplyAddsPerToken)))
    }
}
