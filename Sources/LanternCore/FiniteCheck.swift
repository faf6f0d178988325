/// A backend that can tell cheaply whether a tensor holds only finite numbers (the CPU backend:
/// a scan of host memory). The forward pass checks each block's output with it, so that NaN or
/// ±∞ from bad weights, a bad config or an intervention is reported at the block where it first
/// appears instead of surfacing later as a trap, a `<pad>` token or a JSON error. Backends without
/// it (Vulkan: a read would stall the recorded pass) are checked where their logits are read.
public protocol FiniteChecking {
    func allFinite(_ x: Tensor) throws -> Bool
}

/// Whether every value is finite: NaN or ±∞ times 0 is NaN, and NaN survives every sum, so one
/// multiply-add per value over SIMD lanes decides it (no branch per value).
public func allFinite(_ values: UnsafeBufferPointer<Float>) -> Bool {
    let n = values.count
    guard let base = values.baseAddress, n > 0 else { return true }
    var lanes = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        lanes += UnsafeRawPointer(base + i).loadUnaligned(as: SIMD8<Float>.self) * 0
        i += 8
    }
    var rest: Float = 0
    while i < n { rest += base[i] * 0; i += 1 }
    return (lanes.sum() + rest) == 0
}

/// The first value that is NaN or ±∞, with its index (for the error message).
public func firstNonFinite(_ values: [Float]) -> (index: Int, value: Float)? {
    values.firstIndex { !$0.isFinite }.map { ($0, values[$0]) }
}
