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

    /// acts · W_dec + bias from the rows of W_dec [d_sae, d_in] whose features fire (the kernels'
    /// `sparseDecode`): ~d_in FMAs per active feature against d_in · d_sae for the dense product.
    /// Nil when the acts are too dense for that to pay.
    func sparseDecode(_ acts: Tensor, rows: Tensor, bias: Tensor) throws -> Tensor? {
        let n = acts.rowCount, width = acts.width, dIn = rows.width
        let a = try acts.cpuFloats()
        guard kernels.nonzeroCount(a, count: n * width) * Self.sparseDecodeFraction <= n * width else { return nil }
        let out = make([n, dIn], zeroed: false)
        kernels.sparseDecode(acts: a, rows: try rows.cpuFloats(), bias: try bias.cpuFloats(), out: try out.cpuFloats(),
                             n: n, width: width, dIn: dIn)
        return out
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
