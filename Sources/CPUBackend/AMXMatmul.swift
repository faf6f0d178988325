import CIntrinsics
import Foundation
import LanternCore

/// Many-row products with GGUF block weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K) and bf16
/// weights on Intel AMX (Sapphire Rapids and later), still f32 arithmetic on exact values: each
/// activation is split into three bf16 pieces that sum to it exactly, each weight's integer code
/// is exact in bf16, the tile unit multiplies pairs exactly and adds in f32, and each 32-weight
/// block's scale and offset are applied to its sums (Σ (s·q + o)·x = s·Σ q·x + o·Σ x). The vector
/// path adds the products of the dequantised weights instead, so the two differ by f32 rounding
/// only (`AMXMatmulTests` holds both to a double-precision sum). The kernel is C
/// (`CIntrinsics/amx.c`): Swift cannot spell tile instructions.
///
/// On by default where the CPU and kernel allow it; `LANTERN_AMX=0` turns it off (A/B runs), as
/// does `CPUBackend.usesAMX = false`. Q6_K's scales change every 16 weights, so its integer
/// scale × code (13 bits) goes in as two exact bf16 pieces and its super-block's d multiplies
/// the sums of 256 weights. bf16 weights, and f32 ones that are all bf16 values (an SAE or
/// transcoder read from a bf16 file), are one piece with no scale. Q5_K, f16 and other f32
/// weights keep the vector path.
enum AMXMatmul {
    /// The CPU has AMX-BF16, the kernel lets this process use it, and `LANTERN_AMX` is not 0.
    static let isAvailable: Bool = {
        if ProcessInfo.processInfo.environment["LANTERN_AMX"] == "0" { return false }
        return lantern_amx_available() != 0
    }()

    /// Fewer rows than a tile's 16 leave most of each product unused; decode keeps the row dots.
    static let minRows = 16

    /// The kernel's name for a weight type, nil for the types it does not read (bf16 rows must be
    /// whole 32-weight blocks too: `kernelType(_:rows:k:)`).
    static func kernelType(_ dtype: DType) -> Int32? {
        switch dtype {
        case .q8_0: Int32(LANTERN_AMX_Q8_0)
        case .q4_0: Int32(LANTERN_AMX_Q4_0)
        case .q4_1: Int32(LANTERN_AMX_Q4_1)
        case .q5_0: Int32(LANTERN_AMX_Q5_0)
        case .q5_1: Int32(LANTERN_AMX_Q5_1)
        case .q4_K: Int32(LANTERN_AMX_Q4_K)
        case .q6_K: Int32(LANTERN_AMX_Q6_K)
        case .bf16: Int32(LANTERN_AMX_BF16)
        default: nil
        }
    }

    /// The kernel's name for a product of `rows` rows with the weight `w`, nil where the vector
    /// path takes it: fewer rows than `minRows`, rows not whole 32-weight blocks, or f32 weights
    /// other than bf16 values (`CPUStorage.holdsBF16Values`). Those would need three bf16 pieces,
    /// nine tile products per block: 0.6–0.8× the vector path's rate, measured.
    static func kernelType(_ w: Tensor, rows: Int, k: Int) -> Int32? {
        guard rows >= minRows, k > 0, k % 32 == 0 else { return nil }
        if w.dtype == .f32 {
            return (w.storage as? CPUStorage)?.holdsBF16Values == true ? Int32(LANTERN_AMX_F32_BF16_VALUES) : nil
        }
        return kernelType(w.dtype)
    }

    /// Whether every value is a bf16 value: its low 16 bits are zero. One pass, 16 at a time.
    static func areBF16Values(_ values: UnsafeBufferPointer<Float>) -> Bool {
        guard let p = values.baseAddress.map(UnsafeRawPointer.init) else { return true }
        var all = SIMD16<UInt32>(), i = 0
        while i + 16 <= values.count {
            all |= p.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<UInt32>.self)
            i += 16
        }
        var bits: UInt32 = 0
        for lane in 0..<16 { bits |= all[lane] }
        while i < values.count { bits |= values[i].bitPattern; i += 1 }
        return bits & 0xFFFF == 0
    }

    /// Weight rows per task: whole pairs of 16-row tiles, about four tasks per core.
    static func taskRows(_ m: Int) -> Int {
        let pairs = (m + 31) / 32
        return 32 * max(1, (pairs + 4 * Parallel.cores - 1) / (4 * Parallel.cores))
    }

    /// out [n, m] = x [n, k] · wᵀ for weights w [m, k] of a type `kernelType` names.
    static func run(_ type: Int32, x: UnsafePointer<Float>, w: UnsafeRawPointer, out: UnsafeMutablePointer<Float>,
                    n: Int, k: Int, m: Int) {
        let tiles = (n + 15) / 16
        let packed = UnsafeMutablePointer<UInt16>.allocate(capacity: lantern_amx_packed_count(Int32(n), Int32(k)))
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: tiles * (k / 32) * 16)
        defer { packed.deallocate(); sums.deallocate() }
        let packArgs = UncheckedBox((x, packed, sums))
        Parallel.forRanges(tiles) { range in
            let (x, packed, sums) = packArgs.value
            lantern_amx_pack_activations(x, Int32(n), Int32(k), packed, sums, Int32(range.lowerBound), Int32(range.upperBound))
        }
        let rows = taskRows(m)
        let args = UncheckedBox((UnsafePointer(packed), UnsafePointer(sums), w, out))
        Parallel.forEach((m + rows - 1) / rows) { task in
            let (packed, sums, w, out) = args.value
            let j0 = task * rows, j1 = min(m, j0 + rows)
            lantern_amx_rows(type, packed, sums, w, out, Int32(n), Int32(k), Int32(m), Int32(j0), Int32(j1))
        }
    }
}
