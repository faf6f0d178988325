import LanternCore

/// This module's build of the CPU kernels. The same source is compiled once per instruction set
/// (`CPUKernels` for the baseline, `wideKernelsAVX2`, `wideKernelsAVX512`); `CPUBackend` picks one at
/// start. Entry points are plain functions over pointers, so nothing generic crosses the module
/// boundary and every kernel is specialised here, under this module's instruction set.
public struct KernelSet: CPUKernelSet {
    public init() {}

    public var instructionSet: CPUInstructionSet {
        #if LANTERN_AVX512
        .avx512
        #elseif LANTERN_AVX2
        .avx2
        #else
        .baseline
        #endif
    }

    public var panelWidth: Int { PackedMatmul.nr }

    public func matmul(_ dtype: DType, x: UnsafePointer<Float>, w: UnsafeRawPointer, out: UnsafeMutablePointer<Float>,
                       n: Int, k: Int, m: Int) {
        switch dtype {
        case .f32: Self.floatMatmul(F32Load.self, x, w, out, n, k, m)
        case .bf16: Self.floatMatmul(BF16Load.self, x, w, out, n, k, m)
        case .f16: Self.floatMatmul(F16Load.self, x, w, out, n, k, m)
        case .q8_0: QuantMatmul.run(Q8_0SIMD.self, x: x, w: w, out: out, n: n, k: k, m: m)
        case .q4_0: QuantMatmul.run(Q4_0SIMD.self, x: x, w: w, out: out, n: n, k: k, m: m)
        case .q4_1: QuantMatmul.run(Q4_1SIMD.self, x: x, w: w, out: out, n: n, k: k, m: m)
        case .q5_0: QuantMatmul.run(Q5_0SIMD.self, x: x, w: w, out: out, n: n, k: k, m: m)
        case .q5_1: QuantMatmul.run(Q5_1SIMD.self, x: x, w: w, out: out, n: n, k: k, m: m)
        case .q4_K: QuantMatmul.run(Q4_KSIMD.self, x: x, w: w, out: out, n: n, k: k, m: m)
        case .q5_K: QuantMatmul.run(Q5_KSIMD.self, x: x, w: w, out: out, n: n, k: k, m: m)
        case .q6_K: QuantMatmul.run(Q6_KSIMD.self, x: x, w: w, out: out, n: n, k: k, m: m)
        }
    }

    static func floatMatmul<W: WeightLoad>(_: W.Type, _ x: UnsafePointer<Float>, _ w: UnsafeRawPointer,
                                           _ out: UnsafeMutablePointer<Float>, _ n: Int, _ k: Int, _ m: Int) {
        if n >= CPUKernelPlan.packedFromRows {
            PackedMatmul.run(W.self, x: x, w: w, out: out, n: n, k: k, m: m)
        } else if n < FloatRowDot.fewerThan && W.elementBytes < 4 {
            FloatRowDot.run(W.self, x: x, w: w, out: out, n: n, k: k, m: m)
        } else {
            Matmul.run(W.self, x: x, w: w, out: out, n: n, k: k, m: m)
        }
    }

    public func widenPanels(_ dtype: DType, w: UnsafeRawPointer, m: Int, k: Int, into panels: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32: PackedMatmul.widen(F32Load.self, w, m: m, k: k, into: panels)
        case .bf16: PackedMatmul.widen(BF16Load.self, w, m: m, k: k, into: panels)
        case .f16: PackedMatmul.widen(F16Load.self, w, m: m, k: k, into: panels)
        case .q8_0: QuantPackedMatmul.widen(Q8_0SIMD.self, w, m: m, k: k, into: panels)
        case .q4_0: QuantPackedMatmul.widen(Q4_0SIMD.self, w, m: m, k: k, into: panels)
        case .q4_1: QuantPackedMatmul.widen(Q4_1SIMD.self, w, m: m, k: k, into: panels)
        case .q5_0: QuantPackedMatmul.widen(Q5_0SIMD.self, w, m: m, k: k, into: panels)
        case .q5_1: QuantPackedMatmul.widen(Q5_1SIMD.self, w, m: m, k: k, into: panels)
        case .q4_K: QuantPackedMatmul.widen(Q4_KSIMD.self, w, m: m, k: k, into: panels)
        case .q5_K: QuantPackedMatmul.widen(Q5_KSIMD.self, w, m: m, k: k, into: panels)
        case .q6_K: QuantPackedMatmul.widen(Q6_KSIMD.self, w, m: m, k: k, into: panels)
        }
    }

    public func packedMatmul(panels: UnsafePointer<Float>, m: Int, k: Int, x: UnsafePointer<Float>,
                             out: UnsafeMutablePointer<Float>, n: Int) {
        PackedMatmul.run(panels: panels, m: m, k: k, x: x, out: out, n: n)
    }

    public func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                        rows: Int, d: Int, eps: Float, addOne: Bool) {
        Kernels.rmsNorm(x, w, out, rows: rows, d: d, eps: eps, addOne: addOne)
    }

    public func layerNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                          _ out: UnsafeMutablePointer<Float>, rows: Int, d: Int, eps: Float) {
        LayerNormKernels.forward(x, w, b, out, rows: rows, d: d, eps: eps)
    }

    public func rope(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, heads: Int,
                     headDim: Int, start: Int, params: RopeParams) {
        Kernels.rope(x, out, rows: rows, heads: heads, headDim: headDim, start: start, params: params)
    }

    public func attention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                          out: UnsafeMutablePointer<Float>, pattern: UnsafeMutablePointer<Float>?,
                          n: Int, queryStart: Int, keyCount: Int, params p: AttentionParams) {
        if n >= BlockedAttention.fromRows {
            BlockedAttention.run(q: q, k: k, v: v, out: out, pattern: pattern, n: n, queryStart: queryStart, keyCount: keyCount, p: p)
        } else {
            AttentionKernel.run(q: q, k: k, v: v, out: out, pattern: pattern, n: n, queryStart: queryStart, keyCount: keyCount, p: p)
        }
    }

    public func gated(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                      count: Int, gelu: Bool) {
        GatedActivations.run(gate: gate, up: up, out: out, count: count, gelu: gelu)
    }

    public func gelu(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int, approximation: GELUApproximation) {
        PlainActivations.gelu(x, out, count: count, approximation: approximation)
    }

    public func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
        Kernels.add(a, b, out, count: count)
    }

    public func addRow(_ a: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                       rows: Int, width: Int) {
        Kernels.addRow(a, bias, out, rows: rows, width: width)
    }

    public func scale(_ x: UnsafePointer<Float>, by s: Float, _ out: UnsafeMutablePointer<Float>, count: Int) {
        Kernels.scale(x, by: s, out, count: count)
    }

    public func transpose(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        Kernels.transpose(x, out, rows: rows, cols: cols)
    }

    public func nonzeroCount(_ values: UnsafePointer<Float>, count: Int) -> Int {
        SparseDecode.nonzeroCount(values, count: count)
    }

    public func sparseDecode(acts: UnsafePointer<Float>, rows: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                             out: UnsafeMutablePointer<Float>, n: Int, width: Int, dIn: Int) {
        SparseDecode.run(acts: acts, rows: rows, bias: bias, out: out, n: n, width: width, dIn: dIn)
    }

    public func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, count: Int) {
        VectorMath.axpy(y, a, x, count)
    }

    public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        VectorMath.dot(a, b, count)
    }

    public func matmulBackward(_ dtype: DType, dy: UnsafePointer<Float>, w: UnsafeRawPointer, dx: UnsafeMutablePointer<Float>,
                               n: Int, k: Int, m: Int) {
        MatmulBackward.run(dtype, dy: dy, w: w, dx: dx, n: n, k: k, m: m)
    }

    public func rmsNormBackward(_ x: UnsafePointer<Float>, gain: [Float], _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                rows: Int, d: Int, eps: Float, frozenScale: Bool) {
        BackwardKernels.rmsNorm(x, gain, dy, dx, rows: rows, d: d, eps: eps, frozenScale: frozenScale)
    }

    public func layerNormBackward(_ x: UnsafePointer<Float>, gain: [Float], _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                  rows: Int, d: Int, eps: Float, frozenScale: Bool) {
        LayerNormKernels.backward(x, gain, dy, dx, rows: rows, d: d, eps: eps, frozenScale: frozenScale)
    }

    public func ropeTransposed(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int,
                               headDim: Int, start: Int, params: RopeParams) {
        BackwardKernels.ropeTransposed(dy, dx, rows: rows, heads: heads, headDim: headDim, start: start, params: params)
    }

    public func attentionBackward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                  dz: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                  dv: UnsafeMutablePointer<Float>, n: Int, queryStart: Int, keyCount: Int, params p: AttentionParams) {
        BackwardKernels.attention(q: q, k: k, v: v, dz: dz, dq: dq, dk: dk, dv: dv, n: n, queryStart: queryStart,
                                  keyCount: keyCount, p: p)
    }

    public func computePeakGigaflops() -> Double { ComputePeak.gigaflopsPerSecond() }

    public func klAndGradient(_ z: UnsafeMutablePointer<Float>, logP: UnsafePointer<Float>, count: Int, scale: Float, softcap: Float) -> Double {
        KLDivergence.klAndGradient(z, logP: logP, count: count, scale: scale, softcap: softcap)
    }
}
