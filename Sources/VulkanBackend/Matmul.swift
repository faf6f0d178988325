import LanternCore

/// How the Vulkan backend's many-row products multiply (`--vulkan-matmul`).
public enum MatmulArithmetic: String, Sendable, CaseIterable {
    /// Exact: f32 products and sums, as every other op.
    case f32
    /// Opt-in, not exact: x and w rounded to f16 in the shared tiles, f16 multiply-adds within each
    /// k slice (16 or 8 deep), the slices summed in f32. Needs f16 shader arithmetic. The
    /// matrix-vector products (decode) stay f32: they are bound by reading the weights.
    case f16
}

extension VulkanBackend {
    /// Rows of x at or below which the matrix-vector kernel runs (decode); above, the tiled one.
    static let matvecRows = 8

    /// Products whose grid of 128×128 tiles has at least this many workgroups take the register-
    /// blocked tiles (matmul.comp's MODE 2: 8×8 outputs per invocation); smaller ones keep the
    /// 64×64 tiles, whose four times as many workgroups keep more of a large GPU's compute units
    /// busy (an H100 has 132). Tests lower it to run both on small shapes.
    static let defaultLargeTileGroups = 128

    /// The DTYPE specialisation constant of f32 / f16 / bf16 weights (shaders without quantised variants).
    static func dtypeCode(_ dtype: DType, _ op: String) throws -> UInt32 {
        switch dtype {
        case .f32: 0
        case .f16: 1
        case .bf16: 2
        default: throw LanternError.unsupported("\(op) with \(dtype) weights on the Vulkan backend")
        }
    }

    /// The DTYPE specialisation constant and shader variant for weights of `w`'s dtype: plain floats
    /// by constant, block-quantised types by their `// variant:` build (named as the dtype), which
    /// needs rows of `rowLength` to be whole blocks.
    static func weightKind(_ w: Tensor, rowLength: Int, _ op: String) throws -> (code: UInt32, variant: String?) {
        guard w.dtype.isQuantised else { return (try dtypeCode(w.dtype, op), nil) }
        guard rowLength % w.dtype.blockSize == 0 else {
            throw LanternError.shapeMismatch(op: op, detail: "\(w.dtype) \(w.shape): rows of \(rowLength) are not whole blocks of \(w.dtype.blockSize)")
        }
        return (0, w.dtype.rawValue)
    }

    public func matmul(_ x: Tensor, _ w: Tensor) throws -> Tensor {
        let k = x.width, n = x.rowCount
        guard w.rank == 2, w.shape[1] == k else {
            throw LanternError.shapeMismatch(op: "matmul", detail: "x \(x.shape) · wᵀ with w \(w.shape): inner sizes differ")
        }
        try requireF32("matmul", x)
        let (dtype, variant) = try Self.weightKind(w, rowLength: k, "matmul")
        let m = w.shape[0]
        let out = try f32Tensor(Array(x.shape.dropLast()) + [m])
        if n == 0 || m == 0 { return out }
        let parts = try weightParts(w)
        let (xs, xOff, os) = (try x.vulkanStorage(device), try x.elementOffset, try out.vulkanStorage(device))
        for part in parts where part.rows > 0 {
            // Columns firstRow ..< firstRow + rows of the output come from this part of w.
            let push = [UInt32(n), UInt32(k), UInt32(part.rows), xOff, part.offset, UInt32(part.firstRow), UInt32(m)]
            let buffers = [xs, part.storage, os]
            if n <= Self.matvecRows {
                // 128 invocations: MATVEC_SIZE in matmul.comp.
                try dispatch(.matmul, variant: subgroupVariant(variant), spec: [dtype, 1, 128], buffers: buffers, push: push,
                             groups: Self.grid(part.rows, 1))
            } else {
                let tiled = matmulArithmetic == .f16 ? (variant.map { $0 + "_f16" } ?? "f16") : variant
                let big = ((part.rows + 127) / 128, (n + 127) / 128)
                if big.0 * big.1 >= largeTileGroups {
                    try dispatch(.matmul, variant: tiled, spec: [dtype, 2, 256], buffers: buffers, push: push, groups: (big.0, big.1, 1))
                } else {
                    try dispatch(.matmul, variant: tiled, spec: [dtype, 0, 256], buffers: buffers, push: push,
                                 groups: ((part.rows + 63) / 64, (n + 63) / 64, 1))
                }
            }
        }
        return out
    }
}
