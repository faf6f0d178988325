import LanternCore

extension VulkanBackend {
    /// Rows of x at or below which the matrix-vector kernel runs (decode); above, the tiled one.
    static let matvecRows = 8

    static func dtypeCode(_ dtype: DType, _ op: String) throws -> UInt32 {
        switch dtype {
        case .f32: 0
        case .f16: 1
        case .bf16: 2
        default: throw LanternError.unsupported("\(op) with \(dtype) weights on the Vulkan backend")
        }
    }

    public func matmul(_ x: Tensor, _ w: Tensor) throws -> Tensor {
        let k = x.width, n = x.rowCount
        guard w.rank == 2, w.shape[1] == k else {
            throw LanternError.shapeMismatch(op: "matmul", detail: "x \(x.shape) · wᵀ with w \(w.shape): inner sizes differ")
        }
        try requireF32("matmul", x)
        let dtype = try Self.dtypeCode(w.dtype, "matmul")
        let m = w.shape[0]
        let out = try f32Tensor(Array(x.shape.dropLast()) + [m])
        if n == 0 || m == 0 { return out }
        let push = [UInt32(n), UInt32(k), UInt32(m), try x.elementOffset, try w.elementOffset, 0]
        let buffers = [try x.vulkanStorage(device), try w.vulkanStorage(device), try out.vulkanStorage(device)]
        if n <= Self.matvecRows {
            // 128 invocations: MATVEC_SIZE in matmul.comp.
            try dispatch(.matmul, spec: [dtype, 1, 128], buffers: buffers, push: push, groups: Self.grid(m, 1))
        } else {
            try dispatch(.matmul, spec: [dtype, 0, 256], buffers: buffers, push: push,
                         groups: ((m + 63) / 64, (n + 63) / 64, 1))
        }
        return out
    }
}
