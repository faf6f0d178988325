import LanternCore

/// The elementwise ops: gated activations, plain GELU, add (with row broadcast), scale and softcap.
extension VulkanBackend {
    static let elementwiseGroup = 256

    public func gegluTanh(gate: Tensor, up: Tensor) throws -> Tensor { try gated("gegluTanh", gate, up, act: 0) }

    public func swiglu(gate: Tensor, up: Tensor) throws -> Tensor { try gated("swiglu", gate, up, act: 1) }

    private func gated(_ op: String, _ gate: Tensor, _ up: Tensor, act: UInt32) throws -> Tensor {
        guard gate.count == up.count else { throw LanternError.shapeMismatch(op: op, detail: "\(gate.shape) and \(up.shape)") }
        try requireF32(op, gate, up)
        let out = try f32Tensor(gate.shape)
        if gate.count == 0 { return out }
        try dispatch(.geglu, spec: [act, UInt32(Self.elementwiseGroup)],
                     buffers: [try gate.vulkanStorage(device), try up.vulkanStorage(device), try out.vulkanStorage(device)],
                     push: [UInt32(gate.count), try gate.elementOffset, try up.elementOffset, 0],
                     groups: Self.grid(gate.count, Self.elementwiseGroup))
        return out
    }

    public func gelu(_ x: Tensor, approximation: GELUApproximation) throws -> Tensor {
        try requireF32("gelu", x)
        let out = try f32Tensor(x.shape)
        if x.count == 0 { return out }
        try dispatch(.gelu, spec: [approximation == .tanh ? 0 : 1, UInt32(Self.elementwiseGroup)],
                     buffers: [try x.vulkanStorage(device), try out.vulkanStorage(device)],
                     push: [UInt32(x.count), try x.elementOffset, 0],
                     groups: Self.grid(x.count, Self.elementwiseGroup))
        return out
    }

    public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let broadcast = b.count == a.width && b.count != a.count
        guard broadcast || a.count == b.count else { throw LanternError.shapeMismatch(op: "add", detail: "\(a.shape) and \(b.shape)") }
        try requireF32("add", a, b)
        let out = try f32Tensor(a.shape)
        if a.count == 0 { return out }
        try dispatch(.add, spec: [UInt32(Self.elementwiseGroup)],
                     buffers: [try a.vulkanStorage(device), try b.vulkanStorage(device), try out.vulkanStorage(device)],
                     push: [UInt32(a.count), UInt32(max(a.width, 1)), broadcast ? 1 : 0, try a.elementOffset, try b.elementOffset, 0],
                     groups: Self.grid(a.count, Self.elementwiseGroup))
        return out
    }

    public func scale(_ x: Tensor, by s: Float) throws -> Tensor { try unary("scale", x, mode: 0, value: s) }

    public func softcap(_ x: Tensor, cap: Float) throws -> Tensor { try unary("softcap", x, mode: 1, value: cap) }

    private func unary(_ op: String, _ x: Tensor, mode: UInt32, value: Float) throws -> Tensor {
        try requireF32(op, x)
        let out = try f32Tensor(x.shape)
        if x.count == 0 { return out }
        try dispatch(.scale, spec: [mode, UInt32(Self.elementwiseGroup)],
                     buffers: [try x.vulkanStorage(device), try out.vulkanStorage(device)],
                     push: [UInt32(x.count), try x.elementOffset, 0, value.bitPattern],
                     groups: Self.grid(x.count, Self.elementwiseGroup))
        return out
    }
}
