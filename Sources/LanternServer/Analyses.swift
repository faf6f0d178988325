import Foundation
import Lantern

/// The API's analyses: each reads a request, runs on the model's queue (one forward pass each)
/// and returns the JSON the matching CLI command prints with `--json`.
extension LanternServer {
    /// `lantern next --json`: {ids, top: [{id, token, prob, logit}]}.
    func next(_ request: APIRequest) async throws -> Data {
        let setup = self.setup
        let top = try request.int("top", default: 10, 1...setup.limits.topCount)
        return try await queue.run {
            let model = setup.model
            let ids = try request.promptIDs(setup)
            guard let out = try model.transformer.forward(ids, logits: .last) else { throw APIError(.internalServerError, "no logits") }
            let logits = try model.backend.read(out)
            try model.transformer.requireFinite(logits: logits, tokens: ids)
            let probs = LogitLens.softmax(logits)
            // The CLI's order (ties to the lower id, as its stable sort leaves them), without sorting the vocabulary.
            let order = Ranking.largest(min(top, probs.count), of: probs)
            let rows: [[String: Any]] = order.map {
                ["id": $0, "token": model.display(Int32($0)), "prob": Double(probs[$0]), "logit": Double(logits[$0])]
            }
            return try JSONResponse.encode(["ids": ids.map(Int.init), "top": rows])
        }
    }

    /// `lantern lens --json` (with the tuned lens when the server has one).
    func lens(_ request: APIRequest) async throws -> Data {
        let setup = self.setup
        let topK = try request.int("top_k", default: 5, 1...setup.limits.topCount)
        return try await queue.run {
            let ids = try request.promptIDs(setup)
            let target = try request.token("target", model: setup.model)
            let result = try LogitLens.run(setup.model.transformer, tokens: ids, topK: topK, target: target, tuned: setup.tuned)
            return try JSONResponse.encode(result.json(model: setup.model))
        }
    }

    /// `lantern attention --json`: patterns [heads][query][key] per layer.
    func attention(_ request: APIRequest) async throws -> Data {
        let setup = self.setup
        let c = setup.model.config
        let layers = try request.ints("layers") ?? Array(0..<c.layerCount)
        if let bad = layers.first(where: { $0 < 0 || $0 >= c.layerCount }) {
            throw APIError.bad("'layers': \(bad) is out of range: the model has \(c.layerCount) layers (0..<\(c.layerCount))")
        }
        guard !layers.isEmpty else { throw APIError.bad("'layers' must name at least one layer") }
        return try await queue.run {
            let model = setup.model
            let ids = try request.promptIDs(setup)
            let hooks = Hooks(capture: HookFilter(layers.map { "blocks.\($0).attn.hook_pattern" }))
            try model.transformer.forward(ids, hooks: hooks, logits: .none, stopAfterLayer: layers.max())
            let n = ids.count
            let patterns = try layers.map { l -> [[[Double]]] in
                guard let p = hooks.activation("blocks.\(l).attn.hook_pattern") else { throw APIError(.internalServerError, "no pattern for layer \(l)") }
                let values = try model.backend.read(p)
                return (0..<c.heads).map { h in (0..<n).map { q in (0..<n).map { k in Double(values[(h * n + q) * n + k]) } } }
            }
            return try JSONResponse.encode(["tokens": ids.map(Int.init), "pieces": ids.map(model.display), "layers": layers,
                                            "heads": c.heads, "patterns": patterns])
        }
    }

    /// `lantern features --json`: the SAE features on each token (density and label once the
    /// background scan of that SAE is done).
    func features(_ request: APIRequest) async throws -> Data {
        let setup = self.setup
        let (index, sae) = try request.sae(in: setup.saes)
        let top = try request.int("top", default: 5, 1...setup.limits.topCount)
        let scan = scans[index]
        return try await queue.run {
            let model = setup.model
            let ids = try request.promptIDs(setup)
            let run = try sae.run(on: model.transformer, tokens: ids)
            let finished = scan.finishedScan
            let tokens = run.features(top: top).map { t -> [String: Any] in
                ["position": t.position, "id": Int(t.token), "text": model.display(t.token), "l0": t.l0,
                 "relative_error": Double(t.relativeError),
                 "features": t.top.map { f -> [String: Any] in
                     var o: [String: Any] = ["feature": f.feature, "activation": Double(f.activation)]
                     if let finished { o["density"] = finished.summary(f.feature).density; o["label"] = Self.label(f.feature, finished, model) }
                     return o
                 }]
            }
            return try JSONResponse.encode(["sae": sae.source, "hook": sae.hookName, "d_sae": sae.dSAE, "tokens": tokens,
                                            "dense_left_out": [Int]()])
        }
    }

    /// `lantern feature --json`: one feature's dashboard, from the background scan when it is
    /// done, else from the first contexts of the same corpus, scanned now one pass per job.
    func dashboard(_ request: APIRequest) async throws -> Data {
        let setup = self.setup
        let (index, sae) = try request.sae(in: setup.saes)
        let feature = try request.int("feature", default: -1, -1...(sae.dSAE - 1))
        guard feature >= 0 else { throw APIError.bad("give 'feature', an integer in 0...\(sae.dSAE - 1)") }
        let scan = scans[index]
        let (chosen, source) = try await scanForDashboard(scan, sae: sae)
        return try await queue.run {
            let dashboard = try FeatureDashboard(feature: feature, scan: chosen.value, sae: sae, model: setup.model.transformer)
            return try JSONResponse.encode(["sae": sae.source, "hook": sae.hookName, "dashboard": dashboard.json(setup.model),
                                            "source": source, "scanned_tokens": chosen.value.tokens])
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

    /// The distinct tokens at a feature's strongest examples, strongest first (as `features --label-tokens`).
    static func label(_ f: Int, _ scan: FeatureScan, _ model: LanternModel) -> String {
        var seen: [String] = []
        for e in scan.examples(f) {
            let t = "'" + model.display(e.tokens[e.maxIndex]) + "'"
            if !seen.contains(t) { seen.append(t) }
        }
        return seen.prefix(6).joined(separator: " ")
    }
}

/// Carries a value the model's queue alone touches across an `await`.
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
