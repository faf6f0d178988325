/// The activation function of a sparse autoencoder and how its sparsity is trained.
public enum SAEArchitecture: String, Sendable, CaseIterable {
    /// Keeps the k largest pre-activations (Gao et al. 2024, "Scaling and evaluating sparse
    /// autoencoders"); dead latents are revived with the AuxK loss.
    case topk
    /// pre · H(pre − θ) with a learned per-latent threshold θ, an L0 penalty, and straight-through
    /// estimators for θ (Rajamanoharan et al. 2024, "Jumping Ahead").
    case jumprelu
    /// ReLU with an L1 penalty (the "standard" SAE of Bricken et al. 2023).
    case relu

    /// The `architecture` field of a SAELens cfg.json.
    public var saeLensName: String {
        switch self {
        case .topk: "topk"
        case .jumprelu: "jumprelu"
        case .relu: "standard"
        }
    }
}

/// How activations are put on a common scale before they reach the SAE.
public enum InputNormalization: String, Sendable, CaseIterable {
    /// x' = c·x with one scalar c making E‖x'‖² = 1 (SAELens's `expected_average_only_in`).
    case scalar
    /// x' = c·(x − μ)/σ per dimension, then the same scalar: every residual dimension weighs by
    /// its own spread. Gemma's residual stream has a few dimensions hundreds of times larger than
    /// the rest (Gemma 3 270M, layer 6: two of 640 carry two thirds of the variance); with the
    /// scalar form the reconstruction error, and so the SAE's capacity, goes to them.
    case perDimension = "per-dimension"
    /// x' = c·(x − μ)/√σ: halfway (in log scale) between the two, so that large dimensions still
    /// weigh more than small ones, but by their spread rather than its square.
    case perDimensionSqrt = "per-dimension-sqrt"

    /// u_j = σ_j^−power, the per-dimension factor.
    var power: Double {
        switch self {
        case .scalar: 0
        case .perDimension: 1
        case .perDimensionSqrt: 0.5
        }
    }
}

/// Everything that decides what a training run computes. Two runs with equal settings and equal
/// data produce equal parameters.
public struct SAETrainingSettings: Sendable, Equatable {
    public var architecture: SAEArchitecture
    /// Latents (d_sae).
    public var width: Int
    /// TopK: active latents per row.
    public var k: Int
    /// JumpReLU / ReLU: the L0 the sparsity coefficient is steered towards (nil: keep it fixed).
    public var targetL0: Double?
    /// JumpReLU: coefficient of the L0 penalty; ReLU: of the L1 penalty (a starting value when
    /// `targetL0` is set).
    public var sparsityCoefficient: Double
    public var learningRate: Float
    public var batchSize: Int
    /// Rows (tokens) to train on in all.
    public var tokens: Int
    /// JumpReLU: width ε of the rectangle kernel of the straight-through estimators.
    public var bandwidth: Float
    /// JumpReLU: starting threshold.
    public var initialThreshold: Float
    /// TopK: latents in the AuxK reconstruction of the error (k_aux), and the loss's weight.
    public var auxK: Int
    public var auxCoefficient: Float
    /// A latent is dead after this many rows without firing.
    public var deadAfterTokens: Int
    public var seed: UInt64
    public var normalization: InputNormalization
    /// A transcoder: predicts a target activation from its input (not centred on b_dec).
    public var transcoder = false
    /// Transcoder: with an affine skip connection x · W_skip beside the features (Gemma Scope 2's
    /// `_affine` transcoders; Paulo et al. 2025, "Transcoders beat sparse autoencoders").
    public var skipConnection = false

    public init(architecture: SAEArchitecture, width: Int, k: Int = 32, targetL0: Double? = nil,
                sparsityCoefficient: Double? = nil, learningRate: Float = 5e-4, batchSize: Int = 4096,
                tokens: Int, bandwidth: Float = 0.001, initialThreshold: Float = 0.001, auxK: Int? = nil,
                auxCoefficient: Float = 1.0 / 32, deadAfterTokens: Int? = nil, seed: UInt64 = 0, normalization: InputNormalization = .scalar,
                inputWidth: Int) {
        self.architecture = architecture
        self.width = width
        self.k = k
        self.targetL0 = targetL0
        self.sparsityCoefficient = sparsityCoefficient ?? (architecture == .relu ? 0.05 : 0.1 / max(targetL0 ?? 32, 1))
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.tokens = tokens
        self.bandwidth = bandwidth
        self.initialThreshold = initialThreshold
        self.auxK = auxK ?? min(max(inputWidth / 2, 1), width)
        self.auxCoefficient = auxCoefficient
        // Gao et al. use 10M tokens; short runs need a horizon they can reach.
        self.deadAfterTokens = deadAfterTokens ?? min(10_000_000, max(tokens / 5, batchSize))
        self.seed = seed
        self.normalization = normalization
    }
}
