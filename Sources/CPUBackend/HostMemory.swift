import Foundation

/// Host memory for large tensors. A trace's logits (128 × 262 144 floats, 134 MB) or a block's
/// activations were fresh allocations on every call: the kernel mapped and zeroed them one 4 KiB
/// page at a time (a page fault each), then the backend zeroed them again. Here large buffers are
/// mapped with a hint for 2 MiB pages, come zeroed from the kernel, and when freed wait in a pool
/// for the next tensor of the same size (repeated passes have the same shapes).
enum HostMemory {
    /// From this size on, buffers are mapped and pooled; smaller ones come from malloc.
    static let largeBytes = 256 << 10
    /// Freed buffers kept at most, in bytes, over all sizes.
    static let poolLimit = 1 << 30

    private nonisolated(unsafe) static var pool: [Int: [UnsafeMutableRawPointer]] = [:]
    private nonisolated(unsafe) static var pooledBytes = 0
    private static let lock = NSLock()

    /// `bytes` of memory, 64-byte aligned; zero-filled when `zeroed`.
    static func allocate(_ bytes: Int, zeroed: Bool) -> UnsafeMutableRawPointer {
        guard bytes >= largeBytes else {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
            if zeroed { p.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 64)) }
            return p
        }
        let size = mappedSize(bytes)
        let reused: UnsafeMutableRawPointer? = lock.withLock {
            guard let p = pool[size]?.popLast() else { return nil }
            pooledBytes -= size
            return p
        }
        if let reused {
            if zeroed { memset(reused, 0, bytes) }
            return reused
        }
        return map(size)
    }

    /// Gives back memory from `allocate(bytes, …)`: kept for reuse while the pool has room.
    static func free(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
        guard bytes >= largeBytes else { p.deallocate(); return }
        let size = mappedSize(bytes)
        let kept = lock.withLock {
            guard pooledBytes + size <= poolLimit else { return false }
            pool[size, default: []].append(p)
            pooledBytes += size
            return true
        }
        if !kept { munmap(p, size) }
    }

    /// Fresh zeroed pages, not pooled (long-lived buffers such as widened weights); `unmap` frees.
    static func map(_ bytes: Int) -> UnsafeMutableRawPointer {
        let size = mappedSize(bytes)
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            fatalError("out of memory: could not map \(size) bytes")
        }
        // 2 MiB pages where the kernel allows them (transparent huge pages in "madvise" mode):
        // 512× fewer faults and TLB entries. Only advice; 4 KiB pages work the same.
        if size >= 2 << 20 { _ = madvise(p, size, 14 /* MADV_HUGEPAGE */) }
        return p
    }

    static func unmap(_ p: UnsafeMutableRawPointer, _ bytes: Int) { munmap(p, mappedSize(bytes)) }

    /// Whole pages.
    private static func mappedSize(_ bytes: Int) -> Int { (bytes + 4095) & ~4095 }
}
