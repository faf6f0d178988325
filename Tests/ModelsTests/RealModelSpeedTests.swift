import CPUBackend
import Formats
import Foundation
import LanternCore
import Models
import XCTest

/// Prefill and decode speed on the cached real models; runs only with LANTERN_BENCH=1.
final class RealModelSpeedTests: XCTestCase {
    func testSpeed() throws {
        guard ProcessInfo.processInfo.environment["LANTERN_BENCH"] == "1" else { throw XCTSkip("set LANTERN_BENCH=1") }
        for name in ["gemma3-270m", "smollm2"] {
            guard let path = ModelStore().cachedPath(name) else { continue }
            let model = try Transformer(gguf: path, backend: CPUBackend())
            let prompt = (0..<128).map { Int32(100 + $0 * 7) }
            let cache = try KVCache(model: model, capacity: 256)
            var t = Date()
            try model.forward(prompt, cache: cache, logits: .last)
            let prefill = Double(prompt.count) / Date().timeIntervalSince(t)
            t = Date()
            let steps = 32
            for i in 0..<steps { try model.forward([Int32(200 + i)], cache: cache, logits: .last) }
            let decode = Double(steps) / Date().timeIntervalSince(t)
            print("speed \(name): prefill \(String(format: "%.1f", prefill)) tok/s (128 tokens), decode \(String(format: "%.1f", decode)) tok/s")
        }
    }
}

final class QuantMatmulSpeedTests: XCTestCase {
    /// Time of x[n, k] · wᵀ for each quantised tensor kind in the default model (LANTERN_BENCH=1).
    func testMatmulSpeed() throws {
        guard ProcessInfo.processInfo.environment["LANTERN_BENCH"] == "1" else { throw XCTSkip("set LANTERN_BENCH=1") }
        guard let path = ModelStore().cachedPath("gemma3-270m") else { return }
        let file = try GGUFFile(path: path)
        let backend = CPUBackend()
        let only = ProcessInfo.processInfo.environment["LANTERN_BENCH_ONLY"]
        for name in ["token_embd.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_down.weight", "blk.0.attn_output.weight", "blk.0.attn_v.weight"]
            where only == nil || name.contains(only!) {
            let host = try file.tensor(name)
            let w = try backend.weight(host)
            for n in [1, 64] {
                let x = try backend.tensor([Float](repeating: 0.5, count: n * host.shape[1]), shape: [n, host.shape[1]])
                _ = try backend.matmul(x, w)
                let reps = name == "token_embd.weight" ? 3 : 50
                let t = Date(), cpu0 = cpuSeconds()
                for _ in 0..<reps { _ = try backend.matmul(x, w) }
                let s = Date().timeIntervalSince(t) / Double(reps)
                let cpu = (cpuSeconds() - cpu0) / Double(reps)
                let gbs = Double(host.bytes.count) / s / 1e9
                print("matmul \(name) \(host.dtype) \(host.shape) n=\(n): \(String(format: "%.3f", s * 1000)) ms wall, \(String(format: "%.3f", cpu * 1000)) ms CPU, \(String(format: "%.1f", gbs)) GB/s of weights, \(String(format: "%.1f", 2 * Double(n * host.count) / s / 1e9)) GFLOP/s")
            }
        }
    }
}

/// User + system CPU time of this process: robust to other processes sharing the cores.
private func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}
