import Foundation
import Lantern

/// The unembedding product of a 128-token trace (the default model's is Q8_0: 43 of the trace's
/// 69 GFLOP) on AMX tiles and on the vector path, interleaved in one run, with the largest
/// difference between the two: the same exact products, added in another order.
extension Bench {
    struct AMXComparison {
        let amxSeconds: Double, vectorSeconds: Double, maxDifference: Float, largestLogit: Float

        func printLine(rows: Int, vocabulary: Int) {
            print(String(format: "  unembedding, %d rows × %d: AMX %.3f s, vector path %.3f s (%.2f×); largest difference %.2g (largest logit %.3g)",
                         rows, vocabulary, amxSeconds, vectorSeconds, vectorSeconds / amxSeconds, maxDifference, largestLogit))
        }

        var json: [String: Any] {
            ["amx_unembed_seconds": amxSeconds, "vector_unembed_seconds": vectorSeconds,
             "amx_max_logit_difference": Double(maxDifference), "amx_largest_logit": Double(largestLogit)]
        }
    }

    /// Nil unless the backend is the CPU's with AMX in use.
    func amxComparison(_ model: Transformer, tokens: [Int32]) throws -> AMXComparison? {
        guard let cpu = model.backend as? CPUBackend, cpu.usesAMX else { return nil }
        defer { cpu.usesAMX = true }
        let hooks = Hooks(capture: HookFilter([HookNames.finalNorm]))
        _ = try model.forward(tokens, hooks: hooks, logits: .none)
        guard let normed = hooks.activation(HookNames.finalNorm) else { return nil }
        var amx = Double.infinity, vector = Double.infinity
        for _ in 0..<3 {
            cpu.usesAMX = true
            amx = min(amx, try bestTime(atLeast: 2) { _ = try model.unembed(normed) })
            cpu.usesAMX = false
            vector = min(vector, try bestTime(atLeast: 2) { _ = try model.unembed(normed) })
        }
        cpu.usesAMX = true
        let a = try cpu.read(try model.unembed(normed))
        cpu.usesAMX = false
        let v = try cpu.read(try model.unembed(normed))
        var difference: Float = 0, largest: Float = 0
        for i in 0..<a.count {
            difference = max(difference, abs(a[i] - v[i]))
            largest = max(largest, abs(v[i]))
        }
        return AMXComparison(amxSeconds: amx, vectorSeconds: vector, maxDifference: difference, largestLogit: largest)
    }
}
