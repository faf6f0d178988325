import Foundation
import Formats

extension AttributionGraph {
    /// Neuronpedia's id of node `i`: `{layer}_{feature}_{pos}` for a feature, `{layer}_-1_{pos}` for
    /// an error, `E_{token}_{pos}` for an embedding, `{layers+1}_{token}_{last pos}` for a logit.
    ///
    /// Error nodes are `{layer}_-1_{pos}` as circuit-tracer's writer now names them: its earlier
    /// `0_{layer}_{pos}` is also the id of layer 0's feature `layer` at `pos`, and Neuronpedia's
    /// frontend keys nodes and links on `node_id` (a duplicate silently replaces the other node).
    /// The frontend never parses an id: it finds error nodes by `feature_type` and reads layer,
    /// feature and position from their own fields, so the `-1` form opens there unchanged.
    public func nodeID(_ i: Int) -> String {
        switch nodes[i] {
        case let .feature(layer, position, feature, _): return "\(layer)_\(feature)_\(position)"
        case let .error(layer, position): return "\(layer)_-1_\(position)"
        case let .embedding(position, token): return "E_\(token)_\(position)"
        case let .logit(token, _): return "\(layerCount + 1)_\(token)_\(positionCount - 1)"
        }
    }

    /// The unpruned graph as safetensors, for checking it against other tools (numpy, torch,
    /// circuit-tracer's `Graph.adjacency_matrix`): `adjacency` [count, count] (rows targets,
    /// columns sources, circuit-tracer's node order), `inputs`, `constants` and `activations`
    /// [count] (a feature's activation, a logit's probability, else 0); metadata `nodes` (the node
    /// ids, JSON), `tokens` (JSON) and the conventions.
    public func writeSafetensors(to path: String) throws {
        let activations = nodes.map { node -> Float in
            switch node {
            case let .feature(_, _, _, activation): return activation
            case let .logit(_, probability): return probability
            default: return 0
            }
        }
        let json = { (value: Any) -> String in
            String(decoding: (try? JSONSerialization.data(withJSONObject: value)) ?? Data(), as: UTF8.self)
        }
        try SafetensorsWriter.write([
            .init(name: "adjacency", shape: [count, count], values: adjacency),
            .init(name: "inputs", shape: [count], values: inputs),
            .init(name: "constants", shape: [count], values: constants),
            .init(name: "activations", shape: [count], values: activations),
        ], metadata: [
            "nodes": json((0..<count).map(nodeID)),
            "tokens": json(tokens.map(Int.init)),
            "feature_count": "\(featureCount)", "layer_count": "\(layerCount)", "logit_count": "\(logitCount)",
            "decoder_bias_in_error": "\(conventions.decoderBiasInError)",
            "zeroed_leading_positions": "\(conventions.zeroedLeadingPositions)",
        ], to: path)
    }
}
