import Foundation
import LanternCore
import Models

/// One source layer of a cross-layer transcoder, on the host: the encoder that reads layer i's
/// input, the decoders from its features into every output layer from i on, and the parts that
/// belong to output layer i itself (its decoder bias and its affine skip).
public struct CrossLayerTranscoderLayer: Sendable {
    /// W_enc [d_in, d_sae].
    public var wEnc: [Float]
    public var bEnc: [Float]
    public var threshold: [Float]?
    /// W_dec [d_sae, n_layers − i, d_out]: slot k holds the decoder into output layer i + k.
    public var wDec: [Float]
    /// b_dec [d_out]: added to output layer i.
    public var bDec: [Float]
    /// W_skip [d_in, d_out]: x_i · W_skip added to output layer i.
    public var skip: [Float]?

    public init(wEnc: [Float], bEnc: [Float], threshold: [Float]?, wDec: [Float], bDec: [Float], skip: [Float]? = nil) {
        self.wEnc = wEnc
        self.bEnc = bEnc
        self.threshold = threshold
        self.wDec = wDec
        self.bDec = bDec
        self.skip = skip
    }
}

/// A cross-layer transcoder (Ameisen et al. 2025; circuit-tracer's CrossLayerTranscoder): features
/// of layer i read layer i's input and write to the outputs of layers i, i+1, …, n−1. Output
/// layer j is reconstructed as
///     out_j = Σ_{i ≤ j} acts_i · W_dec[i][j − i] + b_dec[j] + x_j · W_skip[j]
/// Every product runs on the backend.
public final class CrossLayerTranscoder: @unchecked Sendable {
    public let backend: any Backend
    public let source: String
    public let dIn: Int
    public let dSAE: Int
    public let dOut: Int
    public let activation: SAEActivation
    /// The hook layer i's features read, and the hook output layer i reconstructs.
    public let inputHooks: [String]
    public let outputHooks: [String]
    let encoders: [Tensor]          // W_encᵀ [d_sae, d_in] per layer
    let encoderBiases: [Tensor]
    let thresholds: [Tensor?]
    let decoders: [[Tensor]]        // decoders[i][k]: W_dec[i][k]ᵀ [d_out, d_sae], into layer i + k
    let decoderBiases: [Tensor]     // per output layer
    let skips: [Tensor?]            // W_skipᵀ [d_out, d_in] per output layer

    public var layerCount: Int { encoders.count }

    /// What every cross-layer transcoder is held to before a backend holds it.
    static func check(layers: [CrossLayerTranscoderLayer], dIn: Int, dSAE: Int, dOut: Int, activation: SAEActivation,
                      hooks: (input: Int, output: Int), source: String) throws {
        let n = layers.count
        guard n > 0, hooks.input == n, hooks.output == n else {
            throw LanternError.invalidArgument("\(source): a cross-layer transcoder needs one input and one output hook per layer (\(n) layers, \(hooks.input) and \(hooks.output) hooks)")
        }
        for (i, l) in layers.enumerated() {
            try SAE.validate(source, [("layer \(i) w_enc", l.wEnc, [dIn, dSAE]), ("layer \(i) b_enc", l.bEnc, [dSAE]),
                                             ("layer \(i) threshold", l.threshold, [dSAE]), ("layer \(i) w_dec", l.wDec, [dSAE, n - i, dOut]),
                                             ("layer \(i) b_dec", l.bDec, [dOut]), ("layer \(i) affine_skip_connection", l.skip, [dIn, dOut])])
            if activation == .jumpReLU && l.threshold == nil {
                throw LanternError.badFile(path: source, field: "layer \(i) threshold", problem: "missing (a JumpReLU transcoder needs it)")
            }
        }
    }

    public static func check(_ p: GemmaScope2.CrossLayerTranscoderParts) throws {
        try check(layers: p.layers, dIn: p.dIn, dSAE: p.dSAE, dOut: p.dOut, activation: p.activation,
                  hooks: (p.inputHooks.count, p.outputHooks.count), source: p.source)
    }

    public init(layers: [CrossLayerTranscoderLayer], dIn: Int, dSAE: Int, dOut: Int, activation: SAEActivation,
                inputHooks: [String], outputHooks: [String], backend: any Backend, source: String = "cross-layer transcoder") throws {
        try Self.check(layers: layers, dIn: dIn, dSAE: dSAE, dOut: dOut, activation: activation, hooks: (inputHooks.count, outputHooks.count), source: source)
        let n = layers.count
        self.backend = backend
        self.source = source
        self.dIn = dIn
        self.dSAE = dSAE
        self.dOut = dOut
        self.activation = activation
        self.inputHooks = inputHooks
        self.outputHooks = outputHooks
        encoders = try layers.map { try backend.weight(SAE.transpose($0.wEnc, rows: dIn, cols: dSAE), shape: [dSAE, dIn], name: "W_enc") }
        encoderBiases = try layers.map { try backend.tensor($0.bEnc, shape: [dSAE]) }
        thresholds = try layers.map { l in activation == .jumpReLU ? try l.threshold.map { try backend.tensor($0, shape: [dSAE]) } : nil }
        decoders = try layers.enumerated().map { i, l in
            try (0..<(n - i)).map { k in try backend.weight(Self.slotTransposed(l.wDec, slot: k, slots: n - i, dSAE: dSAE, dOut: dOut), shape: [dOut, dSAE], name: "W_dec") }
        }
        decoderBiases = try layers.map { try backend.tensor($0.bDec, shape: [dOut]) }
        skips = try layers.map { l in try l.skip.map { try backend.weight(SAE.transpose($0, rows: dIn, cols: dOut), shape: [dOut, dIn], name: "W_skip") } }
    }

    /// W_dec[:, slot, :]ᵀ of a [d_sae, slots, d_out] decoder: [d_out, d_sae].
    static func slotTransposed(_ w: [Float], slot: Int, slots: Int, dSAE: Int, dOut: Int) -> [Float] {
        var out = [Float](repeating: 0, count: dSAE * dOut)
        w.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for f in 0..<dSAE {
                    let row = (f * slots + slot) * dOut
                    for d in 0..<dOut { dst[d * dSAE + f] = src[row + d] }
                }
            }
        }
        return out
    }

    func checkLayer(_ layer: Int) throws {
        guard layer >= 0, layer < layerCount else {
            throw LanternError.invalidArgument("layer \(layer) is out of range: the cross-layer transcoder has \(layerCount) layers (0..<\(layerCount))")
        }
    }

    /// Feature activations [n, d_sae] of layer `layer` from that layer's input x [n, d_in].
    public func encode(layer: Int, _ x: Tensor) throws -> Tensor {
        try checkLayer(layer)
        guard x.width == dIn else {
            throw LanternError.shapeMismatch(op: "cross-layer transcoder encode", detail: "activation width \(x.width) ≠ d_in \(dIn)")
        }
        return try backend.saeEncode(x, encoder: encoders[layer], bias: encoderBiases[layer], threshold: thresholds[layer], activation: activation)
    }

    /// Σ_{i ≤ layer} acts[i] · W_dec[i][layer − i] + b_dec[layer]: the features' part of output
    /// layer `layer`, without the skip. `acts` holds at least layers 0…layer.
    public func decode(_ acts: [Tensor], layer: Int) throws -> Tensor {
        try checkLayer(layer)
        guard acts.count > layer else {
            throw LanternError.invalidArgument("decoding layer \(layer) needs the activations of layers 0…\(layer), got \(acts.count)")
        }
        var sum = try backend.saeDecode(acts[0], decoder: decoders[0][layer], bias: decoderBiases[layer])
        for i in stride(from: 1, through: layer, by: 1) {
            sum = try backend.add(sum, try backend.matmul(acts[i], decoders[i][layer - i]))
        }
        return sum
    }

    /// x · W_skip[layer] [n, d_out], or nil without an affine skip.
    public func skip(layer: Int, _ x: Tensor) throws -> Tensor? {
        try checkLayer(layer)
        guard let w = skips[layer] else { return nil }
        return try backend.matmul(x, w)
    }

    /// Every layer's features and output reconstruction, from every layer's input.
    public func reconstruct(_ inputs: [Tensor]) throws -> (acts: [Tensor], outputs: [Tensor]) {
        guard inputs.count == layerCount else {
            throw LanternError.invalidArgument("the cross-layer transcoder needs the inputs of all \(layerCount) layers, got \(inputs.count)")
        }
        let acts = try inputs.enumerated().map { try encode(layer: $0, $1) }
        let outputs = try (0..<layerCount).map { j in
            let decoded = try decode(acts, layer: j)
            return try skip(layer: j, inputs[j]).map { try backend.add(decoded, $0) } ?? decoded
        }
        return (acts, outputs)
    }

    /// Feature `feature` of layer `from`'s output direction in layer `to` (≥ from) [d_out].
    public func direction(_ feature: Int, from: Int, to: Int) throws -> [Float] {
        try checkLayer(from)
        try checkLayer(to)
        guard to >= from, feature >= 0, feature < dSAE else {
            throw LanternError.invalidArgument("feature \(feature) from layer \(from) to layer \(to): features write only to their own and later layers, and there are \(dSAE) per layer")
        }
        let column = try backend.read(decoders[from][to - from])   // [d_out, d_sae]
        return (0..<dOut).map { column[$0 * dSAE + feature] }
    }

    /// Refuses a transcoder whose hooks the model lacks or whose widths differ.
    public func check(against model: ModelConfig) throws {
        for (hooks, width, field) in [(inputHooks, dIn, "input hook"), (outputHooks, dOut, "output hook")] {
            for hook in hooks {
                guard let actual = HookWidths.width(of: hook, in: model) else {
                    throw LanternError.invalidArgument("\(source): \(field): the model has no hook '\(hook)' (it has \(model.layerCount) layers)")
                }
                guard actual == width else {
                    throw LanternError.invalidArgument("\(source): \(field): the transcoder has width \(width) there but \(hook) is \(actual) wide")
                }
            }
        }
    }
}
