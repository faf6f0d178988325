import Foundation
import LanternCore

/// Neuronpedia's graph JSON (what circuit-tracer's `create_graph_files` writes; schema in
/// circuit_tracer/frontend/graph_models.py): `metadata`, `qParams`, `nodes`, `links`. Lantern adds
/// each node's `input` and `unattributed` (the constant no node carries) so anyone can check
/// completeness, and the dark-matter share in `metadata.lantern`; the viewer ignores extra keys.
public enum NeuronpediaGraph {
    /// The JSON object for the pruned graph. `tokenText` renders a token id for display.
    /// `options` and the thresholds go into the schema's optional `generation_settings` and
    /// `pruning_settings`, so a reader sees how the graph was made.
    public static func object(_ graph: AttributionGraph, pruned: PrunedGraph, slug: String, scan: String, prompt: String,
                              nodeThreshold: Float, edgeThreshold: Float, options: GraphOptions,
                              tokenText: (Int32) -> String) -> [String: Any] {
        let n = graph.count, layers = graph.layerCount, last = graph.positionCount - 1
        var ids = [String](repeating: "", count: n)
        var nodes: [Int: [String: Any]] = [:]
        for (i, node) in graph.nodes.enumerated() where pruned.nodeMask[i] {
            var o: [String: Any]
            switch node {
            case let .feature(layer, position, feature, activation):
                let cantor = (layer + feature) * (layer + feature + 1) / 2 + feature
                o = ["feature": cantor, "layer": "\(layer)", "ctx_idx": position,
                     "feature_type": "cross layer transcoder", "jsNodeId": "\(layer)_\(feature)-0", "activation": Double(activation)]
            case let .error(layer, position):
                o = ["feature": -1, "layer": "\(layer)", "ctx_idx": position,
                     "feature_type": "mlp reconstruction error", "jsNodeId": "\(layer)_-1-\(position)"]
            case let .embedding(position, token):
                o = ["feature": position, "layer": "E", "ctx_idx": position,
                     "feature_type": "embedding", "jsNodeId": "E_\(token)-\(position)"]
            case let .logit(token, probability):
                let text = tokenText(token)
                o = ["feature": Int(token), "layer": "\(layers + 1)", "ctx_idx": last,
                     "feature_type": "logit", "jsNodeId": "L_\(token)-\(last)", "token_prob": Double(probability),
                     "is_target_logit": i == graph.logitOffset,
                     "clerp": "Output \"\(text)\" (p=\(String(format: "%.3f", probability)))"]
            }
            o["node_id"] = graph.nodeID(i)
            o["token_prob"] = o["token_prob"] ?? 0.0
            o["is_target_logit"] = o["is_target_logit"] ?? false
            o["clerp"] = o["clerp"] ?? ""
            o["run_idx"] = 0
            o["reverse_ctx_idx"] = 0
            o["activation"] = o["activation"] ?? NSNull()
            o["influence"] = Double(pruned.cumulativeInfluence[i])
            o["input"] = Double(graph.inputs[i])
            o["unattributed"] = Double(graph.constants[i])
            ids[i] = o["node_id"] as! String
            nodes[i] = o
        }
        var links: [[String: Any]] = [], connected = Set<Int>()
        for t in 0..<n where nodes[t] != nil {
            for s in 0..<n where nodes[s] != nil && pruned.edgeMask[t * n + s] {
                links.append(["source": ids[s], "target": ids[t], "weight": Double(graph.edge(target: t, source: s))])
                connected.insert(s)
                connected.insert(t)
            }
        }
        let used = nodes.keys.sorted().filter { i in
            if connected.contains(i) { return true }
            switch graph.nodes[i] { case .embedding, .logit: return true; default: return false }
        }
        var generation: [String: Any] = ["max_n_logits": options.maxLogits, "desired_logit_prob": decimal(options.logitProbability),
                                         "batch_size": options.batchSize]
        if let maxFeatureNodes = options.maxFeatureNodes { generation["max_feature_nodes"] = maxFeatureNodes }
        let metadata: [String: Any] = [
            "slug": slug, "scan": scan, "transcoder_list": [String](), "prompt": prompt,
            "prompt_tokens": graph.tokens.map(tokenText), "node_threshold": decimal(nodeThreshold), "schema_version": 1,
            "info": ["generator": ["name": "Lantern"],
                     "description": String(format: "Dark matter: %.1f%% of the logits' influence flows from error nodes.", 100 * Double(pruned.errorShare)),
                     "create_time_ms": (Date().timeIntervalSince1970 * 1000).rounded()] as [String: Any],
            "generation_settings": generation,
            "pruning_settings": ["node_threshold": decimal(nodeThreshold), "edge_threshold": decimal(edgeThreshold)],
            "lantern": ["error_share": Double(pruned.errorShare), "error_share_by_layer": pruned.errorShareByLayer.map(Double.init),
                        "replacement_score": Double(pruned.replacementScore), "completeness_score": Double(pruned.completenessScore),
                        "decoder_bias_in_error": graph.conventions.decoderBiasInError,
                        "zeroed_leading_positions": graph.conventions.zeroedLeadingPositions] as [String: Any],
        ]
        return ["metadata": metadata,
                "qParams": ["pinnedIds": [String](), "supernodes": [[String]](), "linkType": "both", "clickedId": "", "sg_pos": ""] as [String: Any],
                "nodes": used.map { nodes[$0]! }, "links": links]
    }

    /// A setting as the user wrote it (0.98, not 0.9800000190734863).
    static func decimal(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }

    /// The object as pretty-printed JSON.
    public static func data(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
