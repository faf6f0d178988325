/// The vector instruction sets the CPU backend's kernels are built for. One binary carries all
/// three builds of the same kernel source and runs the widest the CPU has (`CPUBackend` chooses
/// at start; `LANTERN_ISA` forces one).
public enum CPUInstructionSet: String, Sendable, CaseIterable, Comparable {
    /// x86-64-v4: AVX-512 F, BW, CD, DQ and VL; 16-lane register tiles.
    case avx512
    /// x86-64-v3: AVX2, FMA, F16C, BMI1/2; 8-lane tiles.
    case avx2
    /// What the compiler assumes of every CPU of the architecture (SSE2 on x86-64).
    case baseline

    /// Widest first, so `<` reads "narrower than".
    public static func < (a: Self, b: Self) -> Bool { a.width < b.width }

    private var width: Int {
        switch self {
        case .avx512: 2
        case .avx2: 1
        case .baseline: 0
        }
    }
}

/// The maths of the CPU backend, over raw f32 rows and stored weight bytes: everything whose speed
/// depends on the vector unit. Each `CPUKernels*` module builds the same source for one
/// instruction set and exports one conforming `KernelSet`; `CPUBackend` owns tensors, shapes and
/// memory, checks its arguments, and calls these. Every implementation gives the same results as
/// the plain references in `CPUBackend.Reference` within the kernels' tested tolerances; on one
/// instruction set, the same bits on every run.
public protocol CPUKernelSet: Sendable {
    var instructionSet: CPUInstructionSet { get }

    /// Columns per packed panel of widened weights (`widenPanels`, `packedMatmul(panels:)`).
    var panelWidth: Int { get }

    /// out[n, m] = x[n, k] · w[m, k]ᵀ, w stored as `dtype` (its block rows whole).
    func matmul(_ dtype: DType, x: UnsafePointer<Float>, w: UnsafeRawPointer, out: UnsafeMutablePointer<Float>,
                n: Int, k: Int, m: Int)
    /// Widens w [m, k] (stored as `dtype`) into `panels` (room for ⌈m / panelWidth⌉ panels of
    /// [k][panelWidth] floats; rows past m zero).
    func widenPanels(_ dtype: DType, w: UnsafeRawPointer, m: Int, k: Int, into panels: UnsafeMutablePointer<Float>)
    /// KL(p ‖ softmax(z)) of one row of `count` logits against log p, z overwritten with its
    /// gradient scale · (q − p) (× 1 − (z / softcap)² when softcap > 0, z then the capped logits).
    func klAndGradient(_ z: UnsafeMutablePointer<Float>, logP: UnsafePointer<Float>, count: Int, scale: Float, softcap: Float) -> Double
    /// out[n, m] = x[n, k] · wᵀ on weights already widened by `widenPanels`.
    func packedMatmul(panels: UnsafePointer<Float>, m: Int, k: Int, x: UnsafePointer<Float>,
                      out: UnsafeMutablePointer<Float>, n: Int)

    func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                 rows: Int, d: Int, eps: Float, addOne: Bool)
    /// (x − mean) / √(var + eps) · w + b per row of d, the biased variance of the centred row.
    func layerNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   _ out: UnsafeMutablePointer<Float>, rows: Int, d: Int, eps: Float)
    func rope(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, heads: Int,
              headDim: Int, start: Int, params: RopeParams)
    /// Causal (and sliding-window) attention of n queries from position `queryStart` over
    /// `keyCount` keys; the softmax pattern [heads, n, keyCount] too when `pattern` is given.
    func attention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                   out: UnsafeMutablePointer<Float>, pattern: UnsafeMutablePointer<Float>?,
                   n: Int, queryStart: Int, keyCount: Int, params: AttentionParams)
    /// f(gate) · up with f GELU (tanh form) or SiLU.
    func gated(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
               count: Int, gelu: Bool)
    /// GELU of each of the `count` values, ungated.
    func gelu(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int, approximation: GELUApproximation)
    func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int)
    func addRow(_ a: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                rows: Int, width: Int)
    func scale(_ x: UnsafePointer<Float>, by s: Float, _ out: UnsafeMutablePointer<Float>, count: Int)
    func transpose(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int)

    /// How many of the `count` values are not zero (NaN counts).
    func nonzeroCount(_ values: UnsafePointer<Float>, count: Int) -> Int
    /// out[r] = Σ_j acts[r, j] · rows[j] over the nonzero acts, in j order, then + bias.
    func sparseDecode(acts: UnsafePointer<Float>, rows: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                      out: UnsafeMutablePointer<Float>, n: Int, width: Int, dIn: Int)

    /// y[i] += a · x[i] for i < count, one multiply-add each (the sparse products' step).
    func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, count: Int)
    /// Σ a[i] · b[i] for i < count.
    func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float

    /// dx[n, k] = dy[n, m] · w[m, k], w stored as `dtype`.
    func matmulBackward(_ dtype: DType, dy: UnsafePointer<Float>, w: UnsafeRawPointer, dx: UnsafeMutablePointer<Float>,
                        n: Int, k: Int, m: Int)
    func rmsNormBackward(_ x: UnsafePointer<Float>, gain: [Float], _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                         rows: Int, d: Int, eps: Float, frozenScale: Bool)
    /// LayerNorm's backward with respect to x for the gain w (frozen: the scale held).
    func layerNormBackward(_ x: UnsafePointer<Float>, gain: [Float], _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                           rows: Int, d: Int, eps: Float, frozenScale: Bool)
    /// The rotation's transpose (every pair by −θ).
    func ropeTransposed(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int,
                        headDim: Int, start: Int, params: RopeParams)
    func attentionBackward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                           dz: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                           dv: UnsafeMutablePointer<Float>, n: Int, queryStart: Int, keyCount: Int, params: AttentionParams)

    /// The f32 multiply-add rate of all cores on registers alone (GFLOP/s): the roof `bench`
    /// reports every exact f32 product against, measured with this set's widest vectors.
    func computePeakGigaflops() -> Double
}

/// Where the CPU kernels switch from row dot products to the packed GEMM: few rows (decode) are
/// bound by reading the weights, many (prefill) by arithmetic.
public enum CPUKernelPlan {
    public static let packedFromRows = 8
    /// For block-quantised weights. Below it the row dots and scratch groups decode each weight
    /// once per call straight into L1; the packed GEMM's larger panels and activation packing pay
    /// only past ~100 rows. Measured on Gemma 3 270M Q4_K_M (2 AVX-512 cores): prefill of 32 / 64
    /// tokens 537 / 659 tokens/s through the scratch groups against 405 / 558 packed, 128 about
    /// even, 192 and more packed ahead; a decoding step of 8 / 16 / 32 generations at once 60–64 /
    /// 94–97 / 154–158 ms against 95–116 / 127–133 / 185–195. Widened weights follow the same
    /// threshold, so that a widened product keeps the stored one's bits.
    public static let quantisedPackedFromRows = 64

    /// Rows from which a product with weights of `dtype` takes the packed GEMM.
    public static func packedFromRows(_ dtype: DType) -> Int {
        dtype.isQuantised ? quantisedPackedFromRows : packedFromRows
    }
}
