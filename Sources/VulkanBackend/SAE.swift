import LanternCore

/// Sparse autoencoders: the encoder is one fused shader (matmul + bias + ReLU / JumpReLU,
/// sae_encode.comp); TopK runs the same shader for the pre-activations, then sae_topk.comp keeps
/// the k largest of each row in place, so nothing comes back to the host. The decoder is the
/// matmul shader plus add.
extension VulkanBackend {
    /// Rows of x per sae_encode workgroup (ROWS in sae_encode.comp).
    static let saeRows = 8

    public func saeEncode(_ x: Tensor, encoder: Tensor, bias: Tensor, threshold: Tensor?,
                          activation: SAEActivation) throws -> Tensor {
        try checkSAEEncode(x, encoder: encoder, bias: bias, threshold: threshold, activation: activation)
        try requireF32("saeEncode", x, bias)
        if let threshold { try requireF32("saeEncode threshold", threshold) }
        let k = x.width, n = x.rowCount, m = encoder.shape[0]
        let (dtype, variant) = try Self.weightKind(encoder, rowLength: k, "saeEncode")
        let out = try f32Tensor(Array(x.shape.dropLast()) + [m])
        if n == 0 || m == 0 { return out }
        let act: UInt32 = switch activation {
        case .relu: 0
        case .jumpReLU: 1
        case .topK: 2
        }
        let t = threshold ?? bias  // bound but unread unless JumpReLU
        let parts = try weightParts(encoder)
        let (bOff, tOff) = (try bias.elementOffset, try t.elementOffset)
        for part in parts where part.rows > 0 {
            // Features firstRow ..< firstRow + rows come from this part of the encoder.
            let first = UInt32(part.firstRow)
            let push = [UInt32(n), UInt32(k), UInt32(part.rows), try x.elementOffset, part.offset,
                        bOff + first, tOff + first, first, act, UInt32(m)]
            let buffers = [try x.vulkanStorage(device), part.storage, try bias.vulkanStorage(device),
                           try t.vulkanStorage(device), try out.vulkanStorage(device)]
            let features = Self.grid(part.rows, 1)
            try dispatch(.saeEncode, variant: subgroupVariant(variant), spec: [dtype], buffers: buffers, push: push,
                         groups: (features.0, features.1, (n + Self.saeRows - 1) / Self.saeRows))
        }
        guard case let .topK(keep) = activation else { return out }
        try dispatch(.saeTopK, variant: useSubgroups ? "subgroup" : nil, buffers: [try out.vulkanStorage(device)],
                     push: [UInt32(n), UInt32(m), try out.elementOffset, UInt32(keep)], groups: Self.grid(n, 1))
        return out
    }

    /// The dense product: on a GPU it costs less than finding the features that fire (`rows` unread).
    public func saeDecode(_ acts: Tensor, decoder: Tensor, rows: Tensor?, bias: Tensor) throws -> Tensor {
        try checkSAEDecode(acts, decoder: decoder, rows: rows, bias: bias)
        return try add(try matmul(acts, decoder), bias)
    }
}
