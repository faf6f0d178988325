import Foundation
import Lantern

/// The neuron view: one layer's MLP neurons (columns of blocks.L.mlp.hook_post) on each token of
/// a prompt, and one neuron's dashboard over the first corpus contexts, scanned on demand.
extension LanternServer {
    /// {hook, layer, tokens: [{position, id, text, neurons: [{neuron, activation}]}]}, the
    /// largest activations first (neurons are signed: only the positive side is ranked, as in the scans).
    func neurons(_ request: APIRequest) async throws -> Data {
        let setup = self.setup
        let layers = setup.model.config.layerCount
        let layer = try request.int("layer", default: layers / 2, 0...(layers - 1))
        let top = try request.int("top", default: 5, 1...setup.limits.topCount)
        return try await queue.run {
            let model = setup.model
            let ids = try request.promptIDs(setup)
            let hook = "blocks.\(layer).mlp.hook_post"
            let hooks = Hooks(capture: HookFilter([hook]))
            try model.transformer.forward(ids, hooks: hooks, logits: .none, stopAfterLayer: layer)
            guard let post = hooks.activation(hook) else { throw APIError(.internalServerError, "no \(hook)") }
            let values = try model.backend.read(post)
            let width = values.count / ids.count
            let tokens = ids.indices.map { p -> [String: Any] in
                let row = values[(p * width)..<((p + 1) * width)]
                let best = Ranking.largest(min(top, width), of: Array(row))
                return ["position": p, "id": Int(ids[p]), "text": model.display(ids[p]),
                        "neurons": best.map { ["neuron": $0, "activation": Double(row[row.startIndex + $0])] as [String: Any] }]
            }
            return try JSONResponse.encode(["hook": hook, "layer": layer, "d_mlp": width, "tokens": tokens])
        }
    }

    /// `lantern neuron --json` (without --sae) over the on-demand corpus slice.
    func neuronDashboard(_ request: APIRequest) async throws -> Data {
        let setup = self.setup
        let layers = setup.model.config.layerCount
        let layer = try request.int("layer", default: -1, -1...(layers - 1))
        guard layer >= 0 else { throw APIError.bad("give 'layer', an integer in 0...\(layers - 1)") }
        let width = setup.model.config.intermediateSize
        let neuron = try request.int("neuron", default: -1, -1...(width - 1))
        guard neuron >= 0 else { throw APIError.bad("give 'neuron', an integer in 0...\(width - 1)") }
        let contexts = Array(setup.scanContexts.prefix(setup.onDemandContexts))
        guard !contexts.isEmpty else { throw APIError(.notFound, "the server has no corpus to scan (start it with --sae and --scan-tokens > 0)") }
        let units = UncheckedBox(try MLPNeurons(layer: layer, model: setup.model.transformer))
        let scan = UncheckedBox(FeatureScan(width: width, bos: contexts[0].first, options: BackgroundScan.options))
        for context in contexts {
            try await queue.run { try scan.value.add(context: context, model: setup.model.transformer, units: units.value) }
        }
        return try await queue.run {
            let dashboard = try FeatureDashboard(unit: neuron, scan: scan.value, units: units.value, model: setup.model.transformer)
            var data: [String: Any] = ["hook": units.value.hookName, "layer": layer, "dashboard": dashboard.json(setup.model)]
            if let scale = units.value.frozenScale { data["frozen_norm_scale"] = scale }
            return try JSONResponse.encode(data)
        }
    }
}
