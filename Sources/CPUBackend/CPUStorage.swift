import LanternCore

/// Host memory behind a CPU tensor: either allocated here (and freed with the tensor) or an alias
/// of memory someone else owns, such as a memory-mapped weights file kept alive by `owner`.
final class CPUStorage: TensorStorage, @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    private let owner: AnyObject?
    private let owned: Bool

    /// Fresh, 64-byte aligned memory, zero-filled.
    init(byteCount: Int) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 64))
        owner = nil
        owned = true
    }

    /// Borrowed memory; `owner` keeps it valid.
    init(aliasing bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        base = UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!)
        byteCount = bytes.count
        self.owner = owner
        owned = false
    }

    deinit { if owned { base.deallocate() } }
}

extension Tensor {
    /// Start of this tensor's bytes in host memory (CPU backend only).
    var cpuPointer: UnsafeMutableRawPointer {
        get throws {
            guard let s = storage as? CPUStorage else {
                throw LanternError.backend("tensor \(shape) belongs to another backend, not the CPU backend")
            }
            return s.base + byteOffset
        }
    }

    /// Float view (f32 tensors only).
    func cpuFloats() throws -> UnsafeMutablePointer<Float> {
        guard dtype == .f32 else { throw LanternError.unsupported("expected an f32 activation, got \(dtype) \(shape)") }
        return try cpuPointer.assumingMemoryBound(to: Float.self)
    }
}
