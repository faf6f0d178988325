import Foundation
import Interpretability
import LanternCore
import Models

/// The end-to-end loss of a TopK SAE spliced into the model, with its gradients, derived by hand:
/// how much replacing the hook's activations by their reconstructions changes the model's
/// next-token distributions (Braun et al. 2024, "end-to-end" SAEs), plus a weight on the SAE's
/// own reconstruction error to keep it a reconstruction of that layer.
///
///     x' = c·(x − μ)⊙u,  pre = (x' − b_dec)·encoderᵀ + b_enc,  a = TopK(pre) (ReLU on the k kept)
///     x̂' = a·decoder + b_dec,  x̂ = x̂' / (c·u) + μ           (spliced at every position but BOS)
///     L = (1/N) Σ_positions KL(p_clean ‖ p_spliced) + w · Σ‖x̂' − x'‖² / Σ‖x' − x̄'‖²
///
///     ∂L/∂z = (q − p) / N at the spliced logits, walked back to ∂L/∂x̂ by the model's exact
///     backward pass (`Transformer.backward`); ∂L/∂x̂' = ∂L/∂x̂ / (c·u) + w · 2(x̂' − x')/Σ‖x' − x̄'‖²;
///     then the SAE's own chain rule on the active entries (`SAEObjective`'s sparse path):
///     ∂L/∂decoder[j] = Σᵢ aᵢⱼ ∂L/∂x̂'ᵢ,  ∂L/∂aᵢⱼ = decoder[j]·∂L/∂x̂'ᵢ = ∂L/∂preᵢⱼ (active j),
///     ∂L/∂encoder[j] = Σᵢ ∂L/∂preᵢⱼ (x'ᵢ − b_dec),  ∂L/∂b_enc = Σᵢ ∂L/∂preᵢ,
///     ∂L/∂b_dec = Σᵢ ∂L/∂x̂'ᵢ − Σⱼ ∂L/∂b_enc,ⱼ encoder[j].
///
/// `SAEKLObjectiveTests` checks the gradients against finite differences of the loss itself.
public struct SAEKLObjective {
    public let model: Transformer
    public let hook: String
    public let k: Int
    /// Weight of the normalised reconstruction error beside the KL.
    public let reconstructionWeight: Double
    /// W_Uᵀ widened to f32 once: the logits' gradient goes back through the unembedding with the
    /// packed f32 product instead of decoding the stored (quantised) rows every context.
    let unembeddingT: Tensor

    public init(model: Transformer, hook: String, k: Int, reconstructionWeight: Double) throws {
        self.model = model
        self.hook = hook
        self.k = k
        self.reconstructionWeight = reconstructionWeight
        unembeddingT = try model.unembeddingTransposed()
    }

    /// One context's share of a step: its KL summed over spliced positions and the gradients of
    /// (1/`tokens`)·Σ KL + w·(its reconstruction error over `variance`), where `tokens` and
    /// `variance` (Σ‖x' − x̄'‖² in the training space) are the whole step's.
    public struct Share {
        public var kl: Double
        public var squaredError: Double
        public var l0: Double
        public var gradients: SAEGradients
    }

    /// Positions the SAE replaces: every one but BOS (as `sae eval` splices).
    public func spliced(_ tokens: [Int32]) -> [Int] {
        tokens.indices.filter { model.config.bosToken == nil || tokens[$0] != model.config.bosToken }
    }

    /// The SAE's codes for training-space rows x'.
    func codes(_ p: SAEParameters, _ x: [Float], rows n: Int) throws -> (codes: SparseCodes, centered: [Float]) {
        let b = model.backend, d = p.inputWidth
        var centered = x
        for i in 0..<n { for j in 0..<d { centered[i * d + j] -= p.decoderBias[j] } }
        var pre = try b.read(b.matmul(b.matrix(centered, rows: n, cols: d), b.matrix(p.encoder, rows: p.width, cols: d)))
        SAEObjective.addRowBias(&pre, p.encoderBias)
        return (SparseCodes.select(pre, rows: n, width: p.width, k: k), centered)
    }

    /// Runs `tokens` clean and with the SAE spliced in, and returns this context's share.
    public func evaluate(_ p: SAEParameters, tokens: [Int32], stepTokens: Int, variance: Double) throws -> Share {
        let b = model.backend, c = model.config, d = c.hiddenSize, vocab = c.vocabSize
        let keep = spliced(tokens), n = tokens.count, m = keep.count
        guard let clean = try model.forward(tokens, hooks: nil, logits: .all) else {
            throw LanternError.backend("the forward pass returned no logits")
        }
        let logP = LensDivergence.logSoftmaxRows(rows(try b.read(clean), keep, width: vocab), vocab: vocab)

        var x: [Float] = [], codes: SparseCodes?, centered: [Float] = [], reconstruction: [Float] = []
        let scale = (0..<d).map { p.inputScale * (p.dimensionScale.isEmpty ? 1 : p.dimensionScale[$0]) }
        let shift = p.inputShift.isEmpty ? [Float](repeating: 0, count: d) : p.inputShift
        let splice: HookFunction = { activation, _ in
            var all = try b.read(activation)
            x = p.normalized(self.rows(all, keep, width: d))
            let made = try self.codes(p, x, rows: m)
            (codes, centered) = made
            reconstruction = made.codes.decode(p.decoder, d: d, bias: p.decoderBias)
            for (r, i) in keep.enumerated() { for j in 0..<d { all[i * d + j] = reconstruction[r * d + j] / scale[j] + shift[j] } }
            return try b.tensor(all, shape: activation.shape)
        }
        let record = try model.recordForward(tokens, interventions: [(hook, splice)])
        guard let codes else { throw LanternError.backend("the forward pass never reached \(hook)") }

        // ∂L/∂(raw logits), then through the unembedding here; the walk starts at the final norm's output.
        var z = rows(try b.read(record.logits), keep, width: vocab)
        let kl = TunedLensObjective.klAndGradient(&z, targetLogP: logP, vocab: vocab, scale: 1 / Float(stepTokens), softcap: c.finalSoftcap)
        let gKept = try b.read(try b.matmul(try b.tensor(z, shape: [m, vocab]), unembeddingT))
        var gNormed = [Float](repeating: 0, count: n * d)
        for (r, i) in keep.enumerated() { gNormed.replaceSubrange((i * d)..<((i + 1) * d), with: gKept[(r * d)..<((r + 1) * d)]) }
        let points = try model.backward(record, logitGradient: nil, seeds: [HookNames.finalNorm: try b.tensor(gNormed, shape: [n, d])],
                                        hooks: HookFilter([hook]))
        guard let atHook = points.first(where: { $0.name == hook }) else { throw LanternError.backend("no gradient at \(hook)") }
        let g = rows(try b.read(atHook.gradient), keep, width: d)

        // ∂L/∂x̂' and the reconstruction term.
        var dReconstruction = [Float](repeating: 0, count: m * d), squaredError = 0.0
        let w = Float(2 * reconstructionWeight / max(variance, 1e-30))
        for r in 0..<m {
            for j in 0..<d {
                let e = reconstruction[r * d + j] - x[r * d + j]
                squaredError += Double(e) * Double(e)
                dReconstruction[r * d + j] = g[r * d + j] / scale[j] + w * e
            }
        }
        let s = p.width
        let dPre = codes.dotsAtSupport(dReconstruction, p.decoder, d: d)
        var dDecoder = [Float](repeating: 0, count: s * d), dEncoder = dDecoder
        codes.accumulateByLatent(codes.values, dReconstruction, d: d, into: &dDecoder)
        codes.accumulateByLatent(dPre, centered, d: d, into: &dEncoder)
        let dEncoderBias = codes.sumByLatent(dPre)
        var dDecoderBias = SAEObjective.columnSums(dReconstruction, rows: m, width: d)
        for j in 0..<s where dEncoderBias[j] != 0 {
            for i in 0..<d { dDecoderBias[i] -= dEncoderBias[j] * p.encoder[j * d + i] }
        }
        return Share(kl: kl.reduce(0, +), squaredError: squaredError, l0: Double(codes.count),
                     gradients: SAEGradients(encoder: dEncoder, encoderBias: dEncoderBias, decoder: dDecoder,
                                             decoderBias: dDecoderBias, logThreshold: []))
    }

    /// The rows `indices` of a [rows, width] matrix.
    func rows(_ m: [Float], _ indices: [Int], width: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(indices.count * width)
        for i in indices { out.append(contentsOf: m[(i * width)..<((i + 1) * width)]) }
        return out
    }
}
