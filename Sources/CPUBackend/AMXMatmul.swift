import CIntrinsics
import Foundation

/// Many-row products with Q8_0 weights on Intel AMX (Sapphire Rapids and later), still exact
/// f32 arithmetic: each activation is split into three bf16 pieces that sum to it exactly, each
/// 8-bit code is exact in bf16, the tile unit multiplies pairs exactly and adds in f32, and each
/// block's scale multiplies its sum (Σ_b d_b · Σ_i q_i x_i). The vector path adds the same exact
/// products in another order, so the two differ by f32 rounding only (`AMXMatmulTests` holds both
/// to a double-precision sum). The kernel is C (`CIntrinsics/amx.c`): Swift cannot spell tile
/// instructions.
///
/// The default model's unembedding is Q8_0: 43 of a 128-token trace's 69 GFLOP, nearly all of a
/// lens. On by default where the CPU and kernel allow it; `LANTERN_AMX=0` turns it off (A/B runs),
/// as does `CPUBackend.usesAMX = false`.
enum AMXMatmul {
    /// The CPU has AMX-BF16, the kernel lets this process use it, and `LANTERN_AMX` is not 0.
    static let isAvailable: Bool = {
        if ProcessInfo.processInfo.environment["LANTERN_AMX"] == "0" { return false }
        return lantern_amx_available() != 0
    }()

    /// Fewer rows than a tile's 16 leave most of each product unused; decode keeps the row dots.
    static let minRows = 16

    /// Weight rows per task: whole pairs of 16-row tiles, about four tasks per core.
    static func taskRows(_ m: Int) -> Int {
        let pairs = (m + 31) / 32
        return 32 * max(1, (pairs + 4 * Parallel.cores - 1) / (4 * Parallel.cores))
    }

    /// out [n, m] = x [n, k] · wᵀ for Q8_0 weights w [m, k] (k a multiple of 32).
    static func q8_0(x: UnsafePointer<Float>, w: UnsafeRawPointer, out: UnsafeMutablePointer<Float>, n: Int, k: Int, m: Int) {
        let packed = UnsafeMutablePointer<UInt16>.allocate(capacity: lantern_amx_packed_count(Int32(n), Int32(k)))
        defer { packed.deallocate() }
        lantern_amx_pack_activations(x, Int32(n), Int32(k), packed)
        let rows = taskRows(m)
        let args = UncheckedBox((UnsafePointer(packed), w, out))
        Parallel.forEach((m + rows - 1) / rows) { task in
            let (packed, w, out) = args.value
            let j0 = task * rows, j1 = min(m, j0 + rows)
            lantern_amx_q8_0_rows(packed, w, out, Int32(n), Int32(k), Int32(m), Int32(j0), Int32(j1))
        }
    }
}
