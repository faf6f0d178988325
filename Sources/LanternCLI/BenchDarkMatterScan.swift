import Foundation
import Lantern

/// Issue 12's moonshot, measured: the whole-model dark-matter scan. An SAE 16 × d_model wide
/// (TopK, k = 64) on every layer's resid_post, at every token of a 128-token context, each layer's
/// reconstruction error (its dark matter) read back, against the same forward pass with the same
/// residuals read and no SAEs. Neither computes logits. The SAEs' weights are random (one per
/// layer): the cost does not depend on their values.
extension Bench {
    struct DarkMatterScan {
        let scanSeconds: Double, forwardSeconds: Double, width: Int, layers: Int
        var ratio: Double { scanSeconds / forwardSeconds }

        func printLine(tokens: Int) {
            print(String(format: "  dark-matter scan, %d tokens, a %d-wide TopK-64 SAE on each of the %d resid_posts: %.3f s; the forward pass alone %.3f s; ratio %.2f×",
                         tokens, width, layers, scanSeconds, forwardSeconds, ratio))
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
        return ["model": spec, "backend": backend.name, "dark_matter_scan_seconds": scan.scanSeconds,
                "dark_matter_scan_forward_seconds": scan.forwardSeconds, "dark_matter_scan_ratio": scan.ratio,
                "dark_matter_scan_sae_width": scan.width]
    }

    func darkMatterScanBench(_ model: Transformer, tokens: [Int32]) throws -> DarkMatterScan {
        let c = model.config, b = model.backend, d = c.hiddenSize, width = 16 * d
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func random(_ count: Int) -> [Float] {
            let scale = 1 / Float(d).squareRoot()
            return (0..<count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return (Float(state >> 40) / Float(1 << 24) - 0.5) * scale
            }
        }
        let names = (0..<c.layerCount).map { "blocks.\($0).hook_resid_post" }
        let saes = try names.enumerated().map { layer, name in
            try SAE(config: SAEConfig(dIn: d, dSAE: width, activation: .topK(64), applyBDecToInput: false, hookName: name, layer: layer),
                    weights: SAEWeights(wEnc: random(d * width), wDec: random(width * d), bEnc: [Float](repeating: 0, count: width),
                                        bDec: [Float](repeating: 0, count: d), threshold: nil),
                    backend: b, source: "random SAE for bench")
        }
        func forward() throws -> Hooks {
            let hooks = Hooks(capture: HookFilter(names))
            try model.forward(tokens, hooks: hooks, logits: .none)
            return hooks
        }
        let plain = try bestTime(atLeast: 3) {
            let hooks = try forward()
            for name in names { _ = try b.read(hooks.activation(name)!) }
        }
        let scan = try bestTime(atLeast: 3) {
            let hooks = try forward()
            for (name, sae) in zip(names, saes) {
                let x = hooks.activation(name)!
                _ = try b.read(try b.add(x, try b.scale(try sae.decode(try sae.encode(x)), by: -1)))
            }
        }
        return DarkMatterScan(scanSeconds: scan, forwardSeconds: plain, width: width, layers: saes.count)
    }
}
