import CIntrinsics
import Foundation
import LanternCore

/// The SAE ops on the CPU: the packed GEMM for the matmul, then bias and activation fused into one
/// pass over each row while it is still in cache.
extension CPUBackend {
    public func saeEncode(_ x: Tensor, encoder: Tensor, bias: Tensor, threshold: Tensor?,
                          activation: SAEActivation) throws -> Tensor {
        try checkSAEEncode(x, encoder: encoder, bias: bias, threshold: threshold, activation: activation)
        let pre = try matmul(x, encoder)
        let width = encoder.shape[0]
        let f32 = { (t: Tensor) throws -> Tensor in t.dtype == .f32 ? t : try self.tensor(try self.read(t), shape: t.shape) }
        let (b, t) = (try f32(bias).cpuFloats(), try threshold.map { try f32($0).cpuFloats() })
        let args = UncheckedBox((try pre.cpuFloats(), b, t))
        Parallel.forRanges(pre.rowCount) { range in
            let (out, b, t) = args.value
            for r in range {
                let row = UnsafeMutableBufferPointer(start: out + r * width, count: width)
                for i in 0..<width { row[i] += b[i] }
                activation.apply(row, threshold: t.map { UnsafeBufferPointer(start: $0, count: width) })
            }
        }
        return pre
    }

    public func saeDecode(_ acts: Tensor, decoder: Tensor, rows: Tensor?, bias: Tensor) throws -> Tensor {
        try checkSAEDecode(acts, decoder: decoder, rows: rows, bias: bias)
        if let rows, rows.dtype == .f32, acts.dtype == .f32, bias.dtype == .f32,
           let out = try sparseDecode(acts, rows: rows, bias: bias) {
            return out
        }
        return try add(try matmul(acts, decoder), bias)
    }

    /// At most one activation in this many nonzero, and `saeDecode` reads only the rows that fire.
    /// A TopK-64 SAE 16 × d_model wide fires 1 in 160; Gemma Scope's L0 of ~20–150 in 16k, fewer.
    static let sparseDecodeFraction = 16

    /// acts · W_dec + bias, each output row the sum of the rows of W_dec [d_sae, d_in] whose
    /// features fire, scaled by their activations (in feature order, one FMA per weight), then the
    /// bias: ~d_in FMAs per active feature against d_in · d_sae for the dense product, and the
    /// decoder is read only where it is used. Nil when the acts are too dense for that to pay.
    func sparseDecode(_ acts: Tensor, rows: Tensor, bias: Tensor) throws -> Tensor? {
        let n = acts.rowCount, width = acts.width, dIn = rows.width
        let a = try acts.cpuFloats()
        var nonzero = 0
        Self.forEachNonzero(UnsafePointer(a), count: n * width) { _ in nonzero += 1 }
        guard nonzero * Self.sparseDecodeFraction <= n * width else { return nil }
        let out = make([n, dIn], zeroed: false)
        let args = UncheckedBox((UnsafePointer(a), UnsafePointer(try rows.cpuFloats()), UnsafePointer(try bias.cpuFloats()), try out.cpuFloats()))
        Parallel.forRanges(n) { range in
            let (a, w, b, o) = args.value
            for r in range {
                let row = o + r * dIn
                row.update(repeating: 0, count: dIn)
                CPUBackend.forEachNonzero(a + r * width, count: width) { j in
                    Kernels.addScaled(a[r * width + j], w + j * dIn, into: row, count: dIn)
                }
                for i in 0..<dIn { row[i] += b[i] }
            }
        }
        return out
    }
}

extension CPUBackend {
    /// `body(i)` for each i with values[i] ≠ 0, in order; each run of 16 is one compare into a
    /// bit mask, and only its set bits are visited (a TopK-64 row of 10,240 has nonzeros in at most 64 of its 640 runs).
    @inline(__always)
    static func forEachNonzero(_ values: UnsafePointer<Float>, count: Int, _ body: (Int) -> Void) {
        var i = 0
        while i + 16 <= count {
            var mask = lantern_mask_nonzero16(values + i)
            while mask != 0 {
                body(i + mask.trailingZeroBitCount)
                mask &= mask - 1
            }
            i += 16
        }
        while i < count { if values[i] != 0 { body(i) }; i += 1 }
    }
}

extension Reference {
    /// activation(x · W_enc + b_enc) with W_enc as stored [d_in, d_sae] (not transposed).
    public static func saeEncode(_ x: [Float], wEnc: [Float], bEnc: [Float], threshold: [Float]?,
                                 activation: SAEActivation, dIn: Int, dSAE: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count / dIn * dSAE)
        for r in 0..<(x.count / dIn) {
            for j in 0..<dSAE {
                var s: Float = 0
                for i in 0..<dIn { s += x[r * dIn + i] * wEnc[i * dSAE + j] }
                out[r * dSAE + j] = s + bEnc[j]
            }
            out.withUnsafeMutableBufferPointer { all in
                let row = UnsafeMutableBufferPointer(rebasing: all[(r * dSAE)..<((r + 1) * dSAE)])
                if let threshold { threshold.withUnsafeBufferPointer { activation.apply(row, threshold: $0) } }
                else { activation.apply(row, threshold: nil) }
            }
        }
        return out
    }

    /// acts · W_dec + b_dec with W_dec as stored [d_sae, d_in].
    public static func saeDecode(_ acts: [Float], wDec: [Float], bDec: [Float], dIn: Int, dSAE: Int) -> [Float] {
        var out = [Float](repeating: 0, count: acts.count / dSAE * dIn)
        for r in 0..<(acts.count / dSAE) {
            for i in 0..<dIn {
                var s: Float = 0
                for j in 0..<dSAE { s += acts[r * dSAE + j] * wDec[j * dIn + i] }
                out[r * dIn + i] = s + bDec[i]
            }
        }
        return out
    }
}
