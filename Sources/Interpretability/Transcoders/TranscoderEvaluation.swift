import Foundation
import LanternCore
import Models

/// The hooks an MLP transcoder of layer l reads and stands in for: what the MLP reads (its input
/// norm's output, or the residual itself in a family whose MLPs have no input norm: OLMo 2) and
/// what it writes (after its output norm, where the family has one).
public enum MLPTranscoderHooks {
    public static func input(_ l: Int, of config: ModelConfig) -> String { input(l, normed: config.preNorms) }
    public static func input(_ l: Int, normed: Bool) -> String {
        normed ? "blocks.\(l).ln2.hook_normalized" : "blocks.\(l).hook_resid_mid"
    }
    public static func output(_ l: Int) -> String { "blocks.\(l).hook_mlp_out" }
    /// Either input a harvest may hold for layer l.
    public static func inputs(_ l: Int) -> [String] { [input(l, normed: true), input(l, normed: false)] }
}

/// How well one layer's transcoder stands in for its MLP.
public struct TranscoderLayerMetrics: Sendable {
    public let layer: Int
    /// Σ‖y − ŷ‖² / Σ‖y − ȳ‖² of the MLP output y (hook_mlp_out) over the tokens evaluated.
    public let fvu: Double
    public let l0: Double
    /// Features that never fired on the tokens evaluated.
    public let deadFeatures: Int
    public let width: Int
    /// With `each`: CE with only this MLP replaced, and with only this MLP zero-ablated.
    public let ceReplaced: Double?
    public let ceZero: Double?

    /// (CE_zero − CE_replaced) / (CE_zero − CE_clean) for this layer alone.
    public func ceScore(clean: Double) -> Double? {
        guard let r = ceReplaced, let z = ceZero else { return nil }
        return (z - r) / (z - clean)
    }
}

/// The figures over everything evaluated.
public struct TranscoderReport: Sendable {
    public let tokens: Int
    public let layers: [TranscoderLayerMetrics]
    public let ceClean: Double
    /// Every MLP replaced by its transcoder at once (the replacement model of circuit tracing).
    public let ceAllReplaced: Double
    /// Every MLP zero-ablated at once.
    public let ceAllZero: Double
    /// (CE_zero − CE_replaced) / (CE_zero − CE_clean) with all layers replaced together.
    public var ceScoreAll: Double { (ceAllZero - ceAllReplaced) / (ceAllZero - ceClean) }
}

/// Evaluates a set of MLP transcoders (each reading `blocks.L.ln2.hook_normalized` and standing in
/// for `blocks.L.hook_mlp_out`) on a model: the fraction of the MLP output's variance each leaves
/// unexplained, and the next-token loss when they replace the MLPs — all at once (always) and one
/// at a time (`each`, two more forward passes per layer). BOS positions are never replaced nor
/// counted, as in `SAEEvaluator`. A cross-layer transcoder is evaluated the same way: output
/// layer j is predicted from the features of layers 0…j, each read from its own layer's MLP input
/// in the same pass.
public final class TranscoderEvaluator {
    public let model: Transformer
    public let transcoders: [Int: Transcoder]
    public let crossLayer: CrossLayerTranscoder?
    public let each: Bool
    private var stats: [Int: (reconstruction: ReconstructionStats, l0: Double, firing: [Int])] = [:]
    private var ce = (clean: 0.0, all: 0.0, zero: 0.0, count: 0)
    private var perLayer: [Int: (replaced: Double, zero: Double)] = [:]
    private var tokens = 0

    public init(model: Transformer, transcoders: [Transcoder], each: Bool = false) throws {
        var byLayer: [Int: Transcoder] = [:]
        for t in transcoders {
            try t.check(against: model.config)
            let normed = model.config.preNorms
            guard let l = t.config.layer, t.config.inputHook == MLPTranscoderHooks.input(l, normed: normed), t.config.outputHook == Self.output(l) else {
                throw LanternError.invalidArgument("\(t.source): reads \(t.config.inputHook) and writes \(t.config.outputHook); an MLP transcoder reads \(MLPTranscoderHooks.input(0, normed: normed).replacingOccurrences(of: "blocks.0.", with: "blocks.L.")) and writes blocks.L.hook_mlp_out")
            }
            guard byLayer[l] == nil else {
                throw LanternError.invalidArgument("\(t.source): a second transcoder for layer \(l) (\(byLayer[l]!.source))")
            }
            byLayer[l] = t
            stats[l] = (ReconstructionStats(width: t.dOut), 0, [Int](repeating: 0, count: t.dSAE))
            perLayer[l] = (0, 0)
        }
        guard !byLayer.isEmpty else { throw LanternError.invalidArgument("no transcoders to evaluate") }
        self.model = model
        self.transcoders = byLayer
        crossLayer = nil
        self.each = each
    }

    public init(model: Transformer, crossLayer clt: CrossLayerTranscoder, each: Bool = false) throws {
        try clt.check(against: model.config)
        for l in 0..<clt.layerCount where clt.inputHooks[l] != MLPTranscoderHooks.input(l, of: model.config) || clt.outputHooks[l] != Self.output(l) {
            throw LanternError.invalidArgument("\(clt.source): layer \(l) reads \(clt.inputHooks[l]) and writes \(clt.outputHooks[l]); an MLP transcoder reads \(MLPTranscoderHooks.input(l, of: model.config)) and writes \(Self.output(l))")
        }
        self.model = model
        transcoders = [:]
        crossLayer = clt
        self.each = each
        for l in 0..<clt.layerCount {
            stats[l] = (ReconstructionStats(width: clt.dOut), 0, [Int](repeating: 0, count: clt.dSAE))
            perLayer[l] = (0, 0)
        }
    }

    var layers: [Int] { crossLayer.map { Array(0..<$0.layerCount) } ?? transcoders.keys.sorted() }

    /// Each layer's features and reconstruction of its MLP output from the captured MLP inputs.
    func reconstructions(_ capture: Hooks) throws -> [Int: (acts: Tensor, output: Tensor)] {
        let inputs = try layers.map { l in
            guard let x = capture.activation(input(l)) else { throw LanternError.backend("the forward pass did not produce layer \(l)'s MLP input") }
            return x
        }
        if let crossLayer {
            let (acts, outputs) = try crossLayer.reconstruct(inputs)
            return Dictionary(uniqueKeysWithValues: layers.map { ($0, (acts[$0], outputs[$0])) })
        }
        return Dictionary(uniqueKeysWithValues: try zip(layers, inputs).map { l, x in (l, try transcoders[l]!.reconstruct(x)) })
    }

    func input(_ l: Int) -> String { MLPTranscoderHooks.input(l, of: model.config) }
    static func output(_ l: Int) -> String { MLPTranscoderHooks.output(l) }

    /// Positions that count: all but BOS tokens.
    func evaluated(_ tokens: [Int32]) -> Set<Int> {
        Set(tokens.indices.filter { model.config.bosToken == nil || tokens[$0] != model.config.bosToken })
    }

    /// Evaluates one context and adds it to the figures.
    public func evaluate(_ tokens: [Int32]) throws {
        let keep = evaluated(tokens)
        let b = model.backend

        // Clean pass: every layer's MLP input and output, and the loss.
        let capture = Hooks(capture: HookFilter(layers.flatMap { [input($0), Self.output($0)] }))
        let clean = try NextTokenLoss.crossEntropies(model, tokens, hooks: capture)
        let reconstructed = try reconstructions(capture)
        for l in layers {
            guard let y = capture.activation(Self.output(l)) else {
                throw LanternError.backend("the forward pass did not produce layer \(l)'s MLP output")
            }
            let (acts, yHat) = reconstructed[l]!
            let (yv, yh) = (try b.read(y), try b.read(yHat))
            let active = try transcoders[l].map { try $0.activeLatents(acts) } ?? b.positiveEntries(acts, expected: acts.width)
            let d = y.width
            for p in keep.sorted() {
                stats[l]!.reconstruction.add(yv[(p * d)..<((p + 1) * d)], yh[(p * d)..<((p + 1) * d)])
                for (f, _) in active.row(p) { stats[l]!.l0 += 1; stats[l]!.firing[Int(f)] += 1 }
            }
        }

        let all = try NextTokenLoss.crossEntropies(model, tokens, hooks: replacing(layers, keep: keep))
        let zero = try NextTokenLoss.crossEntropies(model, tokens, hooks: zeroing(layers, keep: keep))
        let counted = keep.filter { $0 < tokens.count - 1 }.sorted()
        for p in counted {
            ce.clean += clean[p]!; ce.all += all[p]!; ce.zero += zero[p]!; ce.count += 1
        }
        if each {
            for l in layers {
                let r = try NextTokenLoss.crossEntropies(model, tokens, hooks: replacing([l], keep: keep))
                let z = try NextTokenLoss.crossEntropies(model, tokens, hooks: zeroing([l], keep: keep))
                for p in counted { perLayer[l]!.replaced += r[p]!; perLayer[l]!.zero += z[p]! }
            }
        }
        self.tokens += keep.count
    }

    /// Hooks that replace each layer's MLP output by its transcoder's reconstruction from the MLP
    /// input of the same (already partly replaced) pass, at the positions in `keep`.
    func replacing(_ layers: [Int], keep: Set<Int>) -> Hooks {
        let hooks = Hooks()
        if let crossLayer {
            // Every layer's features from its input in this pass; output j from those of 0…j.
            var acts: [Tensor] = []
            for i in self.layers { hooks.intervene(input(i)) { x, _ in acts.append(try crossLayer.encode(layer: i, x)); return x } }
            for j in layers {
                hooks.intervene(Self.output(j)) { y, ctx in
                    guard acts.count > j else { throw LanternError.backend("layer \(j)'s MLP input was not seen before its output") }
                    return try ctx.splice(y, try crossLayer.decode(acts, layer: j), at: keep)
                }
            }
            return hooks
        }
        var inputs: [Int: Tensor] = [:]
        for l in layers {
            let t = transcoders[l]!
            hooks.intervene(input(l)) { x, _ in inputs[l] = x; return x }
            hooks.intervene(Self.output(l)) { y, ctx in
                guard let x = inputs[l] else { throw LanternError.backend("layer \(l)'s MLP input was not seen before its output") }
                return try ctx.splice(y, try t.reconstruct(x).output, at: keep)
            }
        }
        return hooks
    }

    func zeroing(_ layers: [Int], keep: Set<Int>) -> Hooks {
        let hooks = Hooks()
        for l in layers {
            hooks.intervene(Self.output(l)) { y, ctx in try ctx.splice(y, try ctx.backend.scale(y, by: 0), at: keep) }
        }
        return hooks
    }

    public var report: TranscoderReport {
        let n = Double(max(tokens, 1)), c = Double(max(ce.count, 1))
        let layers = self.layers.map { l in
            let s = stats[l]!
            return TranscoderLayerMetrics(layer: l, fvu: 1 - s.reconstruction.explainedVariance, l0: s.l0 / n,
                                          deadFeatures: s.firing.filter { $0 == 0 }.count, width: s.firing.count,
                                          ceReplaced: each ? perLayer[l]!.replaced / c : nil,
                                          ceZero: each ? perLayer[l]!.zero / c : nil)
        }
        return TranscoderReport(tokens: tokens, layers: layers, ceClean: ce.clean / c, ceAllReplaced: ce.all / c,
                                ceAllZero: ce.zero / c)
    }
}
