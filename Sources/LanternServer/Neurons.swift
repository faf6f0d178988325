import Foundation
import Analyses
import Lantern

/// The neuron view: one layer's MLP neurons (columns of blocks.L.mlp.hook_post) on each token of
/// a prompt, and one neuron's dashboard over the first corpus contexts, scanned on demand.
extension LanternServer {
    /// `lantern neuron --json` (without --sae) over the on-demand corpus slice.
    func neuronDashboard(_ body: APIRequest) async throws -> Data {
        let request = try NeuronDashboardRequest(json: RequestFields(body.fields))
        let context = self.context, setup = self.setup
        try request.validate(against: context)
        let contexts = Array(setup.scanContexts.prefix(setup.onDemandContexts))
        guard !contexts.isEmpty else { throw APIError(.notFound, "the server has no corpus to scan (start it with --sae and --scan-tokens > 0)") }
        let units = UncheckedBox(try MLPNeurons(layer: request.layer!, model: setup.model.transformer))
        let scan = UncheckedBox(FeatureScan(width: setup.model.config.intermediateSize, bos: contexts[0].first, options: BackgroundScan.options))
        for corpusContext in contexts {
            try await queue.run { try scan.value.add(context: corpusContext, model: setup.model.transformer, units: units.value) }
        }
        return try await queue.run {
            try AnalysisJSON.encode(try request.run(on: context, units: units.value, scan: ScanSource(scan: scan.value, source: "on demand")))
        }
    }
}
