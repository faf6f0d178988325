import Foundation

/// The f32 multiply-add rate this machine reaches (all cores, registers only, no memory): the roof
/// every exact f32 product runs under, as `StreamRead` is decode's. Workloads print their rates as
/// a share of it, and the trace the most any f32 implementation could gain on transformers here.
enum ComputePeak {
    #if LANTERN_AVX512
    typealias Lanes = SIMD16<Float>
    #else
    typealias Lanes = SIMD8<Float>
    #endif

    static func gigaflopsPerSecond(steps: Int = 20_000_000) -> Double {
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)
        // Inputs the optimiser cannot see, so the fused multiply-adds stay in the loop.
        let seed = Float(ProcessInfo.processInfo.processIdentifier % 7) * 1e-9
        var best = Double.infinity
        for _ in 0..<3 {
            let start = Date()
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                // a + a·b with b = −2 is −a: the values stay put (no overflow, no subnormals).
                let b = Lanes(repeating: -2 - seed), c = Lanes(repeating: 1 + seed)
                // Twelve independent chains: more than the FMA units × their latency.
                var a0 = c, a1 = c, a2 = c, a3 = c, a4 = c, a5 = c, a6 = c, a7 = c, a8 = c, a9 = c, a10 = c, a11 = c
                for _ in 0..<(steps / threads) {
                    a0.addProduct(a0, b); a1.addProduct(a1, b); a2.addProduct(a2, b); a3.addProduct(a3, b)
                    a4.addProduct(a4, b); a5.addProduct(a5, b); a6.addProduct(a6, b); a7.addProduct(a7, b)
                    a8.addProduct(a8, b); a9.addProduct(a9, b); a10.addProduct(a10, b); a11.addProduct(a11, b)
                }
                let total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))
                if total.sum() == -1 { print("") }  // keeps the chains alive
            }
            best = min(best, Date().timeIntervalSince(start))
        }
        return Double(steps / threads * threads) * 12 * Double(Lanes.scalarCount) * 2 / best / 1e9
    }
}
