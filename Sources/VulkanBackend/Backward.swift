import LanternCore

/// The backward ops on the device (`DifferentiableBackend`): gradients, attribution patching and
/// attribution graphs run on Vulkan with nothing read back but what the caller reads. Each op's
/// shader is in Shaders/ under the op's name; each is tested against the CPU backend's.
extension VulkanBackend: DifferentiableBackend {
    public func matmulBackward(_ gradient: Tensor, _ w: Tensor) throws -> Tensor {
        guard w.rank == 2, gradient.width == w.shape[0] else {
            throw LanternError.shapeMismatch(op: "matmulBackward", detail: "gradient \(gradient.shape) · w with w \(w.shape): dY's width must be w's rows")
        }
        try requireF32("matmulBackward", gradient)
        let m = w.shape[0], k = w.shape[1], n = gradient.rowCount
        let (dtype, variant) = try Self.weightKind(w, rowLength: k, "matmulBackward")
        let out = try f32Tensor(Array(gradient.shape.dropLast()) + [k])
        if n == 0 || k == 0 { return out }
        let parts = try weightParts(w).filter { $0.rows > 0 }
        if parts.isEmpty { return try zeros(shape: out.shape) }
        let (dy, dyOff, os) = (try gradient.vulkanStorage(device), try gradient.elementOffset, try out.vulkanStorage(device))
        for (index, part) in parts.enumerated() {
            let push = [UInt32(n), UInt32(k), UInt32(part.rows), dyOff, part.offset, UInt32(part.firstRow), UInt32(m), index > 0 ? 1 : 0]
            try dispatch(.matmulBackward, variant: variant, spec: [dtype], buffers: [dy, part.storage, os], push: push,
                         groups: ((k + 15) / 16, (n + 15) / 16, 1))
        }
        return out
    }

    public func rmsNormBackward(_ x: Tensor, weight: Tensor, eps: Float, form: RMSNormForm, gradient: Tensor,
                                frozenScale: Bool) throws -> Tensor {
        guard weight.count == x.width, gradient.count == x.count else {
            throw LanternError.shapeMismatch(op: "rmsNormBackward", detail: "x \(x.shape), weight \(weight.shape), gradient \(gradient.shape)")
        }
        try requireF32("rmsNormBackward", x, gradient)
        let dtype = try Self.dtypeCode(weight.dtype, "rmsNormBackward")
        let out = try f32Tensor(x.shape)
        if x.rowCount == 0 { return out }
        try dispatch(.rmsnormBackward, spec: [dtype, 128],
                     buffers: [try x.vulkanStorage(device), try weight.vulkanStorage(device), try gradient.vulkanStorage(device),
                               try out.vulkanStorage(device)],
                     push: [UInt32(x.rowCount), UInt32(x.width), try x.elementOffset, try weight.elementOffset, try gradient.elementOffset,
                            form == .gemma ? 1 : 0, frozenScale ? 1 : 0, eps.bitPattern],
                     groups: Self.grid(x.rowCount, 1))
        return out
    }

    public func layerNormBackward(_ x: Tensor, weight: Tensor, eps: Float, gradient: Tensor, frozenScale: Bool) throws -> Tensor {
        guard weight.count == x.width, gradient.count == x.count else {
            throw LanternError.shapeMismatch(op: "layerNormBackward", detail: "x \(x.shape), weight \(weight.shape), gradient \(gradient.shape)")
        }
        try requireF32("layerNormBackward", x, weight, gradient)
        let out = try f32Tensor(x.shape)
        if x.rowCount == 0 { return out }
        try dispatch(.layernormBackward, spec: [128],
                     buffers: [try x.vulkanStorage(device), try weight.vulkanStorage(device), try gradient.vulkanStorage(device),
                               try out.vulkanStorage(device)],
                     push: [UInt32(x.rowCount), UInt32(x.width), try x.elementOffset, try weight.elementOffset, try gradient.elementOffset,
                            frozenScale ? 1 : 0, eps.bitPattern],
                     groups: Self.grid(x.rowCount, 1))
        return out
    }

    public func geluBackward(_ x: Tensor, approximation: GELUApproximation, gradient: Tensor) throws -> Tensor {
        try unaryBackward("geluBackward", x, gradient, mode: approximation == .tanh ? 3 : 4, value: 0)
    }

    public func ropeBackward(_ gradient: Tensor, heads: Int, headDim: Int, start: Int, params: RopeParams) throws -> Tensor {
        try rope(gradient, heads: heads, headDim: headDim, start: start, params: params, inverse: true)
    }

    public func attentionBackward(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, params p: AttentionParams,
                                  gradient: Tensor) throws -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        let n = q.rowCount, keyCount = k.rowCount
        try p.checkBackwardShapes(q: q, k: k, v: v, queryStart: queryStart, gradient: gradient)
        try requireF32("attentionBackward", q, k, v, gradient)
        let dq = try f32Tensor(q.shape), dk = try f32Tensor(k.shape), dv = try f32Tensor(v.shape)
        if n == 0 || keyCount == 0 { return (try zeros(shape: q.shape), try zeros(shape: k.shape), try zeros(shape: v.shape)) }
        // The pattern and the scores' gradient, [heads, n, keys] each, kept on the device between the passes.
        let pattern = try f32Tensor([p.heads, n, keyCount]), scores = try f32Tensor([p.heads, n, keyCount])
        let inputs = [try q.vulkanStorage(device), try k.vulkanStorage(device), try v.vulkanStorage(device), try gradient.vulkanStorage(device),
                      try pattern.vulkanStorage(device), try scores.vulkanStorage(device)]
        let push = [UInt32(n), UInt32(keyCount), UInt32(queryStart), UInt32(p.heads), UInt32(p.kvHeads), UInt32(p.headDim),
                    UInt32(p.window ?? 0), try q.elementOffset, try k.elementOffset, try v.elementOffset, try gradient.elementOffset,
                    p.scale.bitPattern, (p.softcap ?? 0).bitPattern]
        let group = 64
        let (dqs, dks, dvs) = (try dq.vulkanStorage(device), try dk.vulkanStorage(device), try dv.vulkanStorage(device))
        try dispatch(.attentionBackward, spec: [0, UInt32(group)], buffers: inputs + [dqs, dqs], push: push,
                     groups: Self.grid(p.heads * n, group))
        try dispatch(.attentionBackward, spec: [1, UInt32(group)], buffers: inputs + [dqs, dqs], push: push,
                     groups: Self.grid(q.count, group))
        try dispatch(.attentionBackward, spec: [2, UInt32(group)], buffers: inputs + [dks, dvs], push: push,
                     groups: Self.grid(k.count, group))
        return (dq, dk, dv)
    }

    public func gegluTanhBackward(gate: Tensor, up: Tensor, gradient: Tensor) throws -> (dGate: Tensor, dUp: Tensor) {
        try gatedBackward("gegluTanhBackward", gate, up, gradient, mode: 0)
    }

    public func swigluBackward(gate: Tensor, up: Tensor, gradient: Tensor) throws -> (dGate: Tensor, dUp: Tensor) {
        try gatedBackward("swigluBackward", gate, up, gradient, mode: 1)
    }

    public func softcapBackward(_ x: Tensor, cap: Float, gradient: Tensor) throws -> Tensor {
        try unaryBackward("softcapBackward", x, gradient, mode: 2, value: cap)
    }

    /// dx = dy · f′(x) for the one-input ops (elementwise_backward's modes 2 to 4).
    private func unaryBackward(_ op: String, _ x: Tensor, _ gradient: Tensor, mode: UInt32, value: Float) throws -> Tensor {
        guard gradient.count == x.count else {
            throw LanternError.shapeMismatch(op: op, detail: "x \(x.shape), gradient \(gradient.shape)")
        }
        try requireF32(op, x, gradient)
        let out = try f32Tensor(x.shape)
        if x.count == 0 { return out }
        let (xs, os) = (try x.vulkanStorage(device), try out.vulkanStorage(device))
        try dispatch(.elementwiseBackward, spec: [mode, UInt32(Self.elementwiseGroup)],
                     buffers: [xs, xs, try gradient.vulkanStorage(device), os, os],
                     push: [UInt32(x.count), try x.elementOffset, try x.elementOffset, try gradient.elementOffset, value.bitPattern],
                     groups: Self.grid(x.count, Self.elementwiseGroup))
        return out
    }

    private func gatedBackward(_ op: String, _ gate: Tensor, _ up: Tensor, _ gradient: Tensor, mode: UInt32) throws -> (dGate: Tensor, dUp: Tensor) {
        guard gate.count == up.count, gradient.count == gate.count else {
            throw LanternError.shapeMismatch(op: op, detail: "gate \(gate.shape), up \(up.shape), gradient \(gradient.shape)")
        }
        try requireF32(op, gate, up, gradient)
        let dGate = try f32Tensor(gate.shape), dUp = try f32Tensor(up.shape)
        if gate.count == 0 { return (dGate, dUp) }
        try dispatch(.elementwiseBackward, spec: [mode, UInt32(Self.elementwiseGroup)],
                     buffers: [try gate.vulkanStorage(device), try up.vulkanStorage(device), try gradient.vulkanStorage(device),
                               try dGate.vulkanStorage(device), try dUp.vulkanStorage(device)],
                     push: [UInt32(gate.count), try gate.elementOffset, try up.elementOffset, try gradient.elementOffset, 0],
                     groups: Self.grid(gate.count, Self.elementwiseGroup))
        return (dGate, dUp)
    }
}
