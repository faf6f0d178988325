import CIntrinsics

/// The C heap's policy for training runs, whose every step allocates and frees the same large
/// host arrays (a 4096 × 4096 batch's pre-activations are 67 MB). glibc serves blocks over 32 MB
/// with a fresh mapping and unmaps them when freed, so each step paid ~16,000 page faults and the
/// kernel's zeroing of every page again. Served from the heap and kept when freed, they are reused.
enum HostHeap {
    static func keepFreedMemory() {
        _ = lantern_keep_freed_memory()
    }
}
