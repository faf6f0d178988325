import LanternCore

extension VulkanBackend {
    public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float, form: RMSNormForm) throws -> Tensor {
        guard weight.count == x.width else {
            throw LanternError.shapeMismatch(op: "rmsNorm", detail: "x \(x.shape) with weight \(weight.shape)")
        }
        try requireF32("rmsNorm", x)
        let dtype = try Self.dtypeCode(weight.dtype, "rmsNorm")
        let out = try f32Tensor(x.shape)
        let rows = x.rowCount
        if rows == 0 { return out }
        try dispatch(.rmsnorm, variant: useSubgroups ? "subgroup" : nil, spec: [dtype, 128],
                     buffers: [try x.vulkanStorage(device), try weight.vulkanStorage(device), try out.vulkanStorage(device)],
                     push: [UInt32(rows), UInt32(x.width), try x.elementOffset, try weight.elementOffset, 0,
                            form == .gemma ? 1 : 0, eps.bitPattern],
                     groups: Self.grid(rows, 1))
        return out
    }

    /// LayerNorm with weight and bias in f32 (the models load theirs so: they are small).
    public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) throws -> Tensor {
        guard weight.count == x.width, bias.count == x.width else {
            throw LanternError.shapeMismatch(op: "layerNorm", detail: "x \(x.shape) with weight \(weight.shape) and bias \(bias.shape)")
        }
        try requireF32("layerNorm", x, weight, bias)
        let out = try f32Tensor(x.shape)
        let rows = x.rowCount
        if rows == 0 { return out }
        try dispatch(.layernorm, variant: useSubgroups ? "subgroup" : nil, spec: [128],
                     buffers: [try x.vulkanStorage(device), try weight.vulkanStorage(device), try bias.vulkanStorage(device),
                               try out.vulkanStorage(device)],
                     push: [UInt32(rows), UInt32(x.width), try x.elementOffset, try weight.elementOffset, try bias.elementOffset, 0,
                            eps.bitPattern],
                     groups: Self.grid(rows, 1))
        return out
    }
}
