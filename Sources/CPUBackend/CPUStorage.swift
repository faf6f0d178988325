import LanternCore

/// Host memory behind a CPU tensor: either allocated here (and freed with the tensor) or an alias
/// of memory someone else owns, such as a memory-mapped weights file kept alive by `owner`.
final class CPUStorage: TensorStorage, @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    private let owner: AnyObject?
    private let owned: Bool
    /// A weight: no op writes it (file-backed ones, and `Backend.weight(_:shape:name:)`'s).
    let isWeight: Bool
    /// Weights widened to f32 for many-row products, by offset and shape (see `WidenedPanels`;
    /// guarded by `widenedLock`).
    var widenedPanels: [WidenedKey: WidenedPanels] = [:]
    /// An f32 weight made from computed values that are all bf16 values, as an SAE read from a
    /// bf16 file: AMX reads it as one exact bf16 piece (`AMXMatmul`). Found when it is made.
    var holdsBF16Values = false

    /// Fresh, 64-byte aligned memory (`HostMemory`), zero-filled unless the op that asks for it
    /// writes every element itself.
    init(byteCount: Int, zeroed: Bool = true, isWeight: Bool = false) {
        self.byteCount = byteCount
        base = HostMemory.allocate(byteCount, zeroed: zeroed)
        owner = nil
        owned = true
        self.isWeight = isWeight
    }

    /// Borrowed memory, such as a mapped weights file: never written through a tensor. `owner`
    /// keeps it valid.
    init(aliasing bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        base = UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!)
        byteCount = bytes.count
        self.owner = owner
        owned = false
        isWeight = true
    }

    deinit { if owned { HostMemory.free(base, byteCount) } }
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
