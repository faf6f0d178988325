import CPUKernelChoice
import Foundation
import LanternCore

/// The backend that runs anywhere: SIMD kernels over all cores, host memory, weights aliased from
/// their memory-mapped files in their stored dtype.
public final class CPUBackend: Backend, @unchecked Sendable {
    /// The build of the kernels this backend runs (`KernelChoice`).
    public let kernels: any CPUKernelSet

    public init() { kernels = KernelChoice.selected }

    /// A backend on the kernels built for `instructionSet`, where this CPU runs them.
    public init(instructionSet: CPUInstructionSet) throws {
        guard let kernels = KernelChoice.kernels(instructionSet) else {
            throw LanternError.invalidArgument("the CPU kernels for \(instructionSet.rawValue) need instructions this CPU lacks (it runs \(KernelChoice.supported.map(\.rawValue).joined(separator: ", ")))")
        }
        self.kernels = kernels
    }

    /// Many-row products with GGUF block weights go to AMX tiles where the CPU has them
    /// (`AMXMatmul`): exact products, f32 sums, another order of additions than the vector path.
    public var usesAMX = AMXMatmul.isAvailable

    /// Says when AMX is in use: the many-row products then add in another order (see `AMXMatmul`).
    public var name: String { "cpu (\(Parallel.cores) threads, \(kernels.instructionSet.rawValue)\(usesAMX ? ", AMX" : ""))" }

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
        if n >= CPUKernelPlan.packedFromRows(w.dtype), let panels = widened(w, wp, m: m, k: k) {
            kernels.packedMatmul(panels: panels.base, m: m, k: k, x: xp, out: op, n: n)
        } else {
            kernels.matmul(w.dtype, x: xp, w: wp, out: op, n: n, k: k, m: m)
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
        return storage.widened(offset: w.byteOffset, m: m, k: k, panelWidth: kernels.panelWidth, budget: budget) { panels in
            kernels.widenPanels(w.dtype, w: wp, m: m, k: k, into: panels.base)
        }
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float, form: RMSNormForm) throws -> Tensor {
        guard weight.count == x.width else {
            throw LanternError.shapeMismatch(op: "rmsNorm", detail: "x \(x.shape) with weight \(weight.shape)")
        }
        let w = weight.dtype == .f32 ? weight : try tensor(try read(weight), shape: weight.shape)
        let out = make(x.shape, zeroed: false)  // every element is stored
        kernels.rmsNorm(try x.cpuFloats(), try w.cpuFloats(), try out.cpuFloats(), rows: x.rowCount, d: x.width,
                        eps: eps, addOne: form == .gemma)
        return out
    }

    public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) throws -> Tensor {
        guard weight.count == x.width, bias.count == x.width else {
            throw LanternError.shapeMismatch(op: "layerNorm", detail: "x \(x.shape) with weight \(weight.shape) and bias \(bias.shape)")
        }
        let w = weight.dtype == .f32 ? weight : try tensor(try read(weight), shape: weight.shape)
        let b = bias.dtype == .f32 ? bias : try tensor(try read(bias), shape: bias.shape)
        let out = make(x.shape, zeroed: false)  // every element is stored
        kernels.layerNorm(try x.cpuFloats(), try w.cpuFloats(), try b.cpuFloats(), try out.cpuFloats(), rows: x.rowCount,
                          d: x.width, eps: eps)
        return out
    }

    public func rope(_ x: Tensor, heads: Int, headDim: Int, start: Int, params: RopeParams) throws -> Tensor {
        try params.checkShape(x, heads: heads, headDim: headDim, start: start)
        let out = make(x.shape)
        kernels.rope(try x.cpuFloats(), try out.cpuFloats(), rows: x.rowCount, heads: heads, headDim: headDim,
                     start: start, params: params)
        return out
    }

    public func attention(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, keyCount: Int,
                          params p: AttentionParams, wantPattern: Bool) throws -> (out: Tensor, pattern: Tensor?) {
        let n = q.rowCount
        try p.checkShapes(q: q, k: k, v: v, queryStart: queryStart, keyCount: keyCount)
        let out = make([n, q.width])
        let pattern = wantPattern ? make([p.heads, n, keyCount]) : nil
        let (qp, kp, vp, op, pp) = (try q.cpuFloats(), try k.cpuFloats(), try v.cpuFloats(), try out.cpuFloats(), try pattern?.cpuFloats())
        kernels.attention(q: qp, k: kp, v: vp, out: op, pattern: pp, n: n, queryStart: queryStart, keyCount: keyCount, params: p)
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
        kernels.gated(gate: try gate.cpuFloats(), up: try up.cpuFloats(), out: try out.cpuFloats(), count: gate.count, gelu: gelu)
        return out
    }

    public func gelu(_ x: Tensor, approximation: GELUApproximation) throws -> Tensor {
        let out = make(x.shape, zeroed: false)
        kernels.gelu(try x.cpuFloats(), try out.cpuFloats(), count: x.count, approximation: approximation)
        return out
    }

    public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        if b.count == a.width && b.count != a.count {
            let out = make(a.shape, zeroed: false)
            kernels.addRow(try a.cpuFloats(), try b.cpuFloats(), try out.cpuFloats(), rows: a.rowCount, width: a.width)
            return out
        }
        guard a.count == b.count else { throw LanternError.shapeMismatch(op: "add", detail: "\(a.shape) and \(b.shape)") }
        let out = make(a.shape, zeroed: false)
        kernels.add(try a.cpuFloats(), try b.cpuFloats(), try out.cpuFloats(), count: a.count)
        return out
    }

    public func scale(_ x: Tensor, by s: Float) throws -> Tensor {
        let out = make(x.shape, zeroed: false)
        kernels.scale(try x.cpuFloats(), by: s, try out.cpuFloats(), count: x.count)
        return out
    }

    public func softcap(_ x: Tensor, cap: Float) throws -> Tensor {
        let xp = try x.cpuFloats()
        let out = make(x.shape)
        Self.map(x.count, try out.cpuFloats()) { cap * tanh(xp[$0] / cap) }
        return out
    }

    public func transpose(_ x: Tensor) throws -> Tensor {
        guard x.rank == 2, x.dtype == .f32 else {
            throw LanternError.shapeMismatch(op: "transpose", detail: "\(x.dtype) \(x.shape) is not an f32 matrix")
        }
        let n = x.shape[0], m = x.shape[1]
        let out = make([m, n])
        kernels.transpose(try x.cpuFloats(), try out.cpuFloats(), rows: n, cols: m)
        return out
    }

    /// Applies `f` to every element, in parallel chunks (the scalar ops: softcap and the backward
    /// ones, whose time is in `tanh` and `exp`, not in the vector unit).
    static func map(_ count: Int, _ out: UnsafeMutablePointer<Float>, _ f: @escaping (Int) -> Float) {
        let args = UncheckedBox((out, f))
        Parallel.forRanges(count, minChunk: 8192) { range in
            let (out, f) = args.value
            for i in range { out[i] = f(i) }
        }
    }
}
