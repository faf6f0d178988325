import LanternCore

extension CPUBackend: FiniteChecking {
    /// A scan of the tensor's host memory in place (f32 activations); other dtypes are widened first.
    public func allFinite(_ x: Tensor) throws -> Bool {
        guard x.dtype == .f32 else { return try read(x).withUnsafeBufferPointer(LanternCore.allFinite) }
        return LanternCore.allFinite(UnsafeBufferPointer(start: try x.cpuFloats(), count: x.count))
    }
}
