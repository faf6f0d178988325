import Foundation
import Lantern

/// The neuron view: one layer's MLP neurons (columns of blocks.L.mlp.hook_post) on each token of
/// a prompt, and one neuron's dashboard over the first corpus contexts, scanned on demand.
extension LanternServer {
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
