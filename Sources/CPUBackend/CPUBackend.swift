import Foundation
import LanternCore

/// The backend that runs anywhere: SIMD kernels over all cores, host memory, weights aliased from
/// their memory-mapped files in their stored dtype.
public final class CPUBackend: Backend, @unchecked Sendable {
    public init() {}

    /// Many-row products with GGUF block weights go to AMX tiles where the CPU has them
    /// (`AMXMatmul`): exact products, f32 sums, another order of additions than the vector path.
    public var usesAMX = AMXMatmul.isAvailable

    /// Says when AMX is in use: the many-row products then add in another order (see `AMXMatmul`).
    public var name: String { "cpu (\(Parallel.cores) threads\(usesAMX ? ", AMX" : ""))" }

    // MARK: Memory

    /// A new f32 tensor, zero-filled unless `zeroed` is false (for ops that write every element).
    func make(_ shape: [Int], zeroed: Bool = true) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, dtype: .f32, storage: CPUStorage(byteCount: count * 4, zeroed: zeroed))
    }

    public func tensor(_ values: [Float], shape: [Int]) throws -> Tensor {
        guard shape.reduce(1, *) == values.count else {
            throw LanternError.shapeMismatch(op: "tensor", detail: "\(values.count) values for shape \(shape)")
        }
        let t = make(shape)
        let p = try t.cpuFloats()
        values.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: values.count) }
        return t
    }

    public func weight(_ values: [Float], shape: [Int], name: String) throws -> Tensor {
        guard shape.reduce(1, *) == values.count else {
            throw LanternError.shapeMismatch(op: "weight", detail: "'\(name)': \(values.count) values for shape \(shape)")
        }
        let storage = CPUStorage(byteCount: values.count * 4, zeroed: false, isWeight: true)
        storage.holdsBF16Values = values.withUnsafeBufferPointer(AMXMatmul.areBF16Values)
        let t = Tensor(shape: shape, dtype: .f32, storage: storage)
        let p = try t.cpuFloats()
        values.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: values.count) }
        return t
    }

    public func weight(_ host: HostTensor) throws -> Tensor {
        guard let bytes = host.dtype.byteCount(elements: host.count), bytes <= host.bytes.count else {
            throw LanternError.shapeMismatch(op: "weight", detail: "'\(host.name)' \(host.dtype) \(host.shape) needs more than its \(host.bytes.count) bytes")
        }
        return Tensor(shape: host.shape, dtype: host.dtype, storage: CPUStorage(aliasing: host.bytes, owner: host.owner))
    }

    public func zeros(shape: [Int]) throws -> Tensor { make(shape) }

    public func read(_ tensor: Tensor) throws -> [Float] {
        switch tensor.dtype {
        case .f32:
            return Array(UnsafeBufferPointer(start: try tensor.cpuFloats(), count: tensor.count))
        default:
            let host = HostTensor(name: "read", shape: tensor.shape, dtype: tensor.dtype,
                                  bytes: UnsafeRawBufferPointer(start: try tensor.cpuPointer, count: tensor.byteCount), owner: nil)
            return try host.floats()
        }
    }

    /// f32 tensors are lent in place: a lens or a loss reads 100+ MB of logits without copying them.
    public func withValues<R>(_ tensor: Tensor, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        guard tensor.dtype == .f32 else { return try read(tensor).withUnsafeBufferPointer(body) }
        return try body(UnsafeBufferPointer(start: try tensor.cpuFloats(), count: tensor.count))
    }

    public func copyRows(_ source: Tensor, into destination: Tensor, at row: Int) throws {
        guard source.width == destination.width, row >= 0, row + source.rowCount <= destination.rowCount else {
            throw LanternError.shapeMismatch(op: "copyRows", detail: "\(source.shape) into \(destination.shape) at row \(row)")
        }
        if (destination.storage as? CPUStorage)?.isWeight == true {
            throw LanternError.invalidArgument("copyRows: the destination \(destination.shape) is a weight, which no op writes")
        }
        let d = try destination.cpuFloats() + row * destination.width
        d.update(from: try source.cpuFloats(), count: source.count)
    }

    // MARK: Ops

    public func embed(_ tokens: [Int32], table: Tensor, scale: Float) throws -> Tensor {
        guard table.rank == 2 else { throw LanternError.shapeMismatch(op: "embed", detail: "table \(table.shape) is not a matrix") }
        let vocab = table.shape[0], width = table.shape[1]
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw LanternError.invalidArgument("token id \(bad) is out of range: the vocabulary has \(vocab) tokens (0..<\(vocab))")
        }
        let out = make([tokens.count, width])
        let o = try out.cpuFloats()
        for (r, t) in tokens.enumerated() {
            let row = try table.rows(Int(t)..<Int(t) + 1)
            let values = try read(row)
            for i in 0..<width { o[r * width + i] = values[i] * scale }
        }
        return out
    }

    public func matmul(_ x: Tensor, _ w: Tensor) throws -> Tensor {
        let k = x.width, n = x.rowCount
        guard w.rank == 2, w.shape[1] == k else {
            throw LanternError.shapeMismatch(op: "matmul", detail: "x \(x.shape) · wᵀ with w \(w.shape): inner sizes differ")
        }
        guard k % w.dtype.blockSize == 0 else {
            throw LanternError.shapeMismatch(op: "matmul", detail: "\(w.dtype) weight rows of \(k) are not whole blocks of \(w.dtype.blockSize)")
        }
        let m = w.shape[0]
        // Every kernel below stores each output before adding to it (when k > 0): no zero fill.
        let out = make(Array(x.shape.dropLast()) + [m], zeroed: k == 0)
        let xp = try x.cpuFloats(), wp = UnsafeRawPointer(try w.cpuPointer), op = try out.cpuFloats()
        // Before widening: AMX reads the stored blocks, so the larger f32 panels are never made.
        if usesAMX, let type = AMXMatmul.kernelType(w, rows: n, k: k) {
            AMXMatmul.run(type, x: xp, w: wp, out: op, n: n, k: k, m: m)
            return out
        }
        if n >= Self.packedFromRows, let panels = widened(w, wp, m: m, k: k) {
            PackedMatmul.run(panels: panels, x: xp, out: op, n: n)
            return out
        }
        switch w.dtype {
        case .f32: Self.matmul(F32Load.self, xp, wp, op, n, k, m)
        case .bf16: Self.matmul(BF16Load.self, xp, wp, op, n, k, m)
        case .f16: Self.matmul(F16Load.self, xp, wp, op, n, k, m)
        case .q8_0: QuantMatmul.run(Q8_0SIMD.self, x: xp, w: wp, out: op, n: n, k: k, m: m)
        case .q4_0: QuantMatmul.run(Q4_0SIMD.self, x: xp, w: wp, out: op, n: n, k: k, m: m)
        case .q4_1: QuantMatmul.run(Q4_1SIMD.self, x: xp, w: wp, out: op, n: n, k: k, m: m)
        case .q5_0: QuantMatmul.run(Q5_0SIMD.self, x: xp, w: wp, out: op, n: n, k: k, m: m)
        case .q5_1: QuantMatmul.run(Q5_1SIMD.self, x: xp, w: wp, out: op, n: n, k: k, m: m)
        case .q4_K: QuantMatmul.run(Q4_KSIMD.self, x: xp, w: wp, out: op, n: n, k: k, m: m)
        case .q5_K: QuantMatmul.run(Q5_KSIMD.self, x: xp, w: wp, out: op, n: n, k: k, m: m)
        case .q6_K: QuantMatmul.run(Q6_KSIMD.self, x: xp, w: wp, out: op, n: n, k: k, m: m)
        }
        return out
    }

    /// Weights widened to f32 for many-row products and kept, within this budget (nil: never).
    /// Off unless asked for (`widenWeights`): a decoding run must not grow past its weights file.
    public private(set) var widening: WideningBudget?

    /// Keep weights widened to f32 after their first many-row product, up to `limit` bytes in
    /// all: traces, lenses, harvests and evaluations then skip the widening on every later call.
    public func widenWeights(upTo limit: Int = WideningBudget.defaultLimit) {
        widening = limit > 0 ? WideningBudget(limit: limit) : nil
    }

    /// `w`'s widened panels: kept ones, or made now when the budget has room; nil otherwise.
    private func widened(_ w: Tensor, _ wp: UnsafeRawPointer, m: Int, k: Int) -> WidenedPanels? {
        guard let budget = widening, let storage = w.storage as? CPUStorage else { return nil }
        return storage.widened(offset: w.byteOffset, m: m, k: k, budget: budget) { panels in
            switch w.dtype {
            case .f32: Self.fill(panels, F32Load.self, wp)
            case .bf16: Self.fill(panels, BF16Load.self, wp)
            case .f16: Self.fill(panels, F16Load.self, wp)
            case .q8_0: Self.fill(panels, Q8_0SIMD.self, wp)
            case .q4_0: Self.fill(panels, Q4_0SIMD.self, wp)
            case .q4_1: Self.fill(panels, Q4_1SIMD.self, wp)
            case .q5_0: Self.fill(panels, Q5_0SIMD.self, wp)
            case .q5_1: Self.fill(panels, Q5_1SIMD.self, wp)
            case .q4_K: Self.fill(panels, Q4_KSIMD.self, wp)
            case .q5_K: Self.fill(panels, Q5_KSIMD.self, wp)
            case .q6_K: Self.fill(panels, Q6_KSIMD.self, wp)
            }
        }
    }

    private static func fill<W: WeightLoad>(_ panels: WidenedPanels, _: W.Type, _ wp: UnsafeRawPointer) {
        let k = panels.k
        panels.fill { j, column, stride in PackedMatmul.widenRow(W.self, wp + j * k * W.elementBytes, k: k, column, stride) }
    }

    private static func fill<B: SIMDBlockDecoder>(_ panels: WidenedPanels, _: B.Type, _ wp: UnsafeRawPointer) {
        let blocks = panels.k / B.dtype.blockSize, rowBytes = blocks * B.dtype.blockBytes
        panels.fill { j, column, stride in
            // Scratch per row: rows are filled on several threads at once.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: B.dtype.blockSize) { scratch in
                QuantPackedMatmul.decodeRow(B.self, wp + j * rowBytes, blocks: blocks, column, stride, scratch: scratch.baseAddress!)
            }
        }
    }

    /// Few rows (decode) are bound by reading the weights: dot products straight off the stored
    /// dtype. Many rows (prefill) are bound by arithmetic: the packed GEMM.
    static let packedFromRows = 8

    static func matmul<W: WeightLoad>(_ w: W.Type, _ x: UnsafePointer<Float>, _ wp: UnsafeRawPointer,
                                      _ out: UnsafeMutablePointer<Float>, _ n: Int, _ k: Int, _ m: Int) {
        if n >= packedFromRows {
            PackedMatmul.run(W.self, x: x, w: wp, out: out, n: n, k: k, m: m)
        } else {
            Matmul.run(W.self, x: x, w: wp, out: out, n: n, k: k, m: m)
        }
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float, form: RMSNormForm) throws -> Tensor {
        guard weight.count == x.width else {
            throw LanternError.shapeMismatch(op: "rmsNorm", detail: "x \(x.shape) with weight \(weight.shape)")
        }
        let w = weight.dtype == .f32 ? weight : try tensor(try read(weight), shape: weight.shape)
        let out = make(x.shape, zeroed: false)  // every element is stored
        Kernels.rmsNorm(try x.cpuFloats(), try w.cpuFloats(), try out.cpuFloats(), rows: x.rowCount, d: x.width,
                        eps: eps, addOne: form == .gemma)
        return out
    }

    public func rope(_ x: Tensor, heads: Int, headDim: Int, start: Int, params: RopeParams) throws -> Tensor {
        guard x.width == heads * headDim, params.rotaryDim <= headDim, params.rotaryDim % 2 == 0 else {
            throw LanternError.shapeMismatch(op: "rope", detail: "x \(x.shape) as \(heads) heads × \(headDim), rotary dim \(params.rotaryDim)")
        }
        let out = make(x.shape)
        Kernels.rope(try x.cpuFloats(), try out.cpuFloats(), rows: x.rowCount, heads: heads, headDim: headDim,
                     start: start, params: params)
        return out
    }

    public func attention(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, keyCount: Int,
                          params p: AttentionParams, wantPattern: Bool) throws -> (out: Tensor, pattern: Tensor?) {
        let n = q.rowCount
        guard p.kvHeads > 0, p.heads % p.kvHeads == 0, q.width == p.heads * p.headDim,
              k.width == p.kvHeads * p.headDim, v.width == k.width,
              keyCount <= k.rowCount, keyCount <= v.rowCount, queryStart + n <= keyCount, queryStart >= 0 else {
            throw LanternError.shapeMismatch(op: "attention", detail: "q \(q.shape), k \(k.shape), v \(v.shape), queries from \(queryStart), \(keyCount) keys, \(p.heads)/\(p.kvHeads) heads × \(p.headDim)")
        }
        let out = make([n, q.width])
        let pattern = wantPattern ? make([p.heads, n, keyCount]) : nil
        let (qp, kp, vp, op, pp) = (try q.cpuFloats(), try k.cpuFloats(), try v.cpuFloats(), try out.cpuFloats(), try pattern?.cpuFloats())
        if n >= BlockedAttention.fromRows {
            BlockedAttention.run(q: qp, k: kp, v: vp, out: op, pattern: pp, n: n, queryStart: queryStart, keyCount: keyCount, p: p)
        } else {
            AttentionKernel.run(q: qp, k: kp, v: vp, out: op, pattern: pp, n: n, queryStart: queryStart, keyCount: keyCount, p: p)
        }
        return (out, pattern)
    }

    public func gegluTanh(gate: Tensor, up: Tensor) throws -> Tensor {
        try gated("gegluTanh", gate, up, gelu: true)
    }

    public func swiglu(gate: Tensor, up: Tensor) throws -> Tensor {
        try gated("swiglu", gate, up, gelu: false)
    }

    private func gated(_ op: String, _ gate: Tensor, _ up: Tensor, gelu: Bool) throws -> Tensor {
        guard gate.count == up.count else { throw LanternError.shapeMismatch(op: op, detail: "\(gate.shape) and \(up.shape)") }
        let out = make(gate.shape)
        GatedActivations.run(gate: try gate.cpuFloats(), up: try up.cpuFloats(), out: try out.cpuFloats(), count: gate.count, gelu: gelu)
        return out
    }

    public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        if b.count == a.width && b.count != a.count {
            let out = make(a.shape, zeroed: false)
            Kernels.addRow(try a.cpuFloats(), try b.cpuFloats(), try out.cpuFloats(), rows: a.rowCount, width: a.width)
            return out
        }
        guard a.count == b.count else { throw LanternError.shapeMismatch(op: "add", detail: "\(a.shape) and \(b.shape)") }
        let out = make(a.shape, zeroed: false)
        Kernels.add(try a.cpuFloats(), try b.cpuFloats(), try out.cpuFloats(), count: a.count)
        return out
    }

    public func scale(_ x: Tensor, by s: Float) throws -> Tensor {
        let out = make(x.shape, zeroed: false)
        Kernels.scale(try x.cpuFloats(), by: s, try out.cpuFloats(), count: x.count)
        return out
    }

    public func softcap(_ x: Tensor, cap: Float) throws -> Tensor {
        let xp = try x.cpuFloats()
        let out = make(x.shape)
        Kernels.map(x.count, try out.cpuFloats()) { cap * tanh(xp[$0] / cap) }
        return out
    }

    public func transpose(_ x: Tensor) throws -> Tensor {
        guard x.rank == 2, x.dtype == .f32 else {
            throw LanternError.shapeMismatch(op: "transpose", detail: "\(x.dtype) \(x.shape) is not an f32 matrix")
        }
        let n = x.shape[0], m = x.shape[1]
        let out = make([m, n])
        Kernels.transpose(try x.cpuFloats(), try out.cpuFloats(), rows: n, cols: m)
        return out
    }
}
