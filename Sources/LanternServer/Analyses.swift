import Foundation
import Analyses
import Lantern

/// The API's analyses: each reads a request, runs on the model's queue (one forward pass each)
/// and returns the JSON the matching CLI command prints with `--json`.
extension LanternServer {
    /// An analysis of the catalog run in one job on the model's queue: the request read from the
    /// body, validated against what the server serves and its limits, its result's JSON (the same
    /// bytes as the CLI's `--json` and Python's).
    func analysis(_ type: any AnalysisRequest.Type, _ body: APIRequest) async throws -> Data {
        let request = try type.init(json: RequestFields(body.fields))
        if let nexts, let next = request as? NextRequest {
            try next.validate(against: context)
            return try await nexts.answer(next)
        }
        return try await run(request)
    }

    private func run<R: AnalysisRequest>(_ request: R) async throws -> Data {
        let context = self.context
        return try await queue.run { try request.json(on: context) }
    }

    /// `lantern feature --json`: one feature's dashboard, from the background scan when it is
    /// done, else from the first contexts of the same corpus, scanned now one pass per job.
    func dashboard(_ body: APIRequest) async throws -> Data {
        let request = try FeatureDashboardRequest(json: RequestFields(body.fields))
        let context = self.context
        try request.validate(against: context)
        let index = request.sae ?? 0
        let (chosen, source) = try await scanForDashboard(scans[index], sae: setup.saes[index])
        return try await queue.run {
            try AnalysisJSON.encode(try request.run(on: context, scan: ScanSource(scan: chosen.value, source: source)))
        }
    }

    /// `feature search`: features by the text they fire on in their top contexts, over the same
    /// scan a dashboard reads.
    func featureSearch(_ body: APIRequest) async throws -> Data {
        let request = try FeatureSearchRequest(json: RequestFields(body.fields))
        let context = self.context
        try request.validate(against: context)
        let index = request.sae ?? 0
        let (chosen, source) = try await scanForDashboard(scans[index], sae: setup.saes[index])
        return try await queue.run {
            try AnalysisJSON.encode(try request.run(on: context, scan: ScanSource(scan: chosen.value, source: source)))
        }
    }

    /// The finished background scan, or the first few corpus contexts scanned now (one job each).
    func scanForDashboard(_ scan: BackgroundScan, sae: SAE) async throws -> (UncheckedBox<FeatureScan>, String) {
        if let finished = scan.finishedScan { return (UncheckedBox(finished), "background scan") }
        let setup = self.setup
        let contexts = Array(setup.scanContexts.prefix(setup.onDemandContexts))
        guard !contexts.isEmpty else { throw APIError(.notFound, "the server has no corpus to scan (start it with --scan-tokens > 0)") }
        let fresh = UncheckedBox(FeatureScan(width: sae.dSAE, bos: contexts[0].first, options: BackgroundScan.options))
        for context in contexts {
            try await queue.run { try fresh.value.add(context: context, model: setup.model.transformer, units: sae) }
        }
        return (fresh, "on demand")
    }
}
