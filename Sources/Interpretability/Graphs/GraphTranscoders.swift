import LanternCore
import Models

/// The transcoders that replace a model's MLPs in an attribution graph: one per layer (each
/// layer's features write to its own MLP output), or one cross-layer transcoder (layer i's features
/// write to every MLP output from i on, as in Ameisen et al.). Both read `ln2.hook_normalized` and
/// write `hook_mlp_out` of their layers.
public enum GraphTranscoders: @unchecked Sendable {
    case perLayer([Transcoder])
    case crossLayer(CrossLayerTranscoder)

    /// Refuses a set that does not cover the model's layers with the MLP hooks, or whose widths differ.
    func check(against config: ModelConfig) throws {
        let layers = config.layerCount
        switch self {
        case let .perLayer(set):
            guard set.count == layers else {
                throw LanternError.invalidArgument("an attribution graph needs one transcoder per layer: the model has \(layers) layers, got \(set.count) transcoders")
            }
            for (l, t) in set.enumerated() {
                let expected = (MLPTranscoderHooks.input(l, of: config), MLPTranscoderHooks.output(l))
                guard (t.config.inputHook, t.config.outputHook) == expected else {
                    throw LanternError.invalidArgument("\(t.source): transcoder \(l) maps \(t.config.inputHook) → \(t.config.outputHook), expected \(expected.0) → \(expected.1)")
                }
                try t.check(against: config)
            }
        case let .crossLayer(clt):
            guard clt.layerCount == layers else {
                throw LanternError.invalidArgument("\(clt.source): the cross-layer transcoder has \(clt.layerCount) layers, the model \(layers)")
            }
            for l in 0..<layers {
                let expected = (MLPTranscoderHooks.input(l, of: config), MLPTranscoderHooks.output(l))
                guard (clt.inputHooks[l], clt.outputHooks[l]) == expected else {
                    throw LanternError.invalidArgument("\(clt.source): layer \(l) maps \(clt.inputHooks[l]) → \(clt.outputHooks[l]), expected \(expected.0) → \(expected.1)")
                }
            }
            try clt.check(against: config)
        }
    }

    var isCrossLayer: Bool { if case .crossLayer = self { return true } else { return false } }

    /// Features per layer.
    func width(_ layer: Int) -> Int {
        switch self {
        case let .perLayer(set): return set[layer].dSAE
        case let .crossLayer(clt): return clt.dSAE
        }
    }

    /// Layer `layer`'s feature activations [n, width] from its input.
    func encode(_ layer: Int, _ x: Tensor) throws -> Tensor {
        switch self {
        case let .perLayer(set): return try set[layer].encode(x)
        case let .crossLayer(clt): return try clt.encode(layer: layer, x)
        }
    }

    /// W_encᵀ of layer `layer` [width, d_in], row f = feature f's encoder direction.
    func encoderRows(_ layer: Int) -> Tensor {
        switch self {
        case let .perLayer(set): return set[layer].encoder
        case let .crossLayer(clt): return clt.encoders[layer]
        }
    }

    /// The features' part of MLP output `layer`, without b_dec or the skip, from the activations
    /// of every layer (a cross-layer transcoder sums layers 0…layer).
    func decoded(_ acts: [Tensor], layer: Int, backend b: any Backend) throws -> Tensor {
        switch self {
        case let .perLayer(set): return try b.matmul(acts[layer], set[layer].decoder)
        case let .crossLayer(clt):
            var sum = try b.matmul(acts[0], clt.decoders[0][layer])
            for i in stride(from: 1, through: layer, by: 1) { sum = try b.add(sum, try b.matmul(acts[i], clt.decoders[i][layer - i])) }
            return sum
        }
    }

    func decoderBias(_ layer: Int) -> Tensor {
        switch self {
        case let .perLayer(set): return set[layer].decoderBias
        case let .crossLayer(clt): return clt.decoderBiases[layer]
        }
    }

    func skip(_ layer: Int, _ x: Tensor) throws -> Tensor? {
        switch self {
        case let .perLayer(set): return try set[layer].skip(x)
        case let .crossLayer(clt): return try clt.skip(layer: layer, x)
        }
    }

    /// W_skipᵀ of layer `layer` (the backward's MLP path), nil without a skip.
    func skipWeight(_ layer: Int) -> Tensor? {
        switch self {
        case let .perLayer(set): return set[layer].skipWeight
        case let .crossLayer(clt): return clt.skips[layer]
        }
    }

    /// The MLP outputs layer `source`'s features write to.
    func outputLayers(from source: Int, of layers: Int) -> ClosedRange<Int> {
        isCrossLayer ? source...(layers - 1) : source...source
    }

    /// Layer `source`'s decoder into MLP output `target` as rows [width, d_out], so that
    /// matmul(g, rows) = g · W_decᵀ projects a gradient onto every feature's output direction.
    func decoderRows(from source: Int, to target: Int, backend b: any Backend) throws -> Tensor {
        switch self {
        case let .perLayer(set): return set[source].decoderRows
        case let .crossLayer(clt): return try b.transpose(clt.decoders[source][target - source])
        }
    }
}
