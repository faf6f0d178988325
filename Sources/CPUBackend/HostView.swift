import LanternCore

extension CPUBackend {
    /// The f32 values of a CPU tensor where they lie in host memory, for callers that hand them
    /// out without a copy (the Python package's activation cache); nil for another backend's
    /// tensor or another dtype. The pointer is valid while `tensor` is alive.
    public static func hostFloats(_ tensor: Tensor) -> UnsafeMutablePointer<Float>? {
        guard tensor.dtype == .f32, let storage = tensor.storage as? CPUStorage else { return nil }
        return (storage.base + tensor.byteOffset).assumingMemoryBound(to: Float.self)
    }
}
