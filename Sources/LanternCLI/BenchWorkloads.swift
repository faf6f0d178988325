import Foundation
import Lantern

/// `lantern bench --only workloads`: what interpretability users run most, each beside its
/// reference in the same run: start-up, a 128-token trace with every resid_post and all logits
/// (beside transformers fp32 when torch is installed), the logit lens beside a trace of the same
/// tokens, and harvesting at blocks.6. Arithmetic rates count the weight matrices' products only.
extension Bench {
    static let demoPrompt = "The reliability of Wikipedia is very"

    func workloadBench(_ backend: any Backend, spec: String) throws -> [String: Any] {
        let location = try ModelStore().resolve(spec) { note($0) }
        var loaded = try LanternModel.load(location, backend: backend)
        // Start-up: everything a command does before its first forward op (mapping the weights,
        // reading the metadata, building the tokenizer, encoding the prompt). Process start is not in it.
        var ids: [Int32] = []
        let startup = try bestTime(atLeast: 3) {
            loaded = try LanternModel.load(location, backend: backend)
            ids = try loaded.encode(Self.demoPrompt)
        }
        let model = loaded.transformer, c = model.config
        let vocab = c.vocabSize
        func gflops(rows: Int, blocks: Int, logitRows: Int, seconds: Double) -> Double {
            2 * Double(rows * blocks * model.blockMultiplyAddsPerToken + logitRows * model.unembeddingMultiplyAddsPerRow) / seconds / 1e9
        }

        // trace: 128 tokens, every resid_post and all logits read back to the host.
        let traceTokens = (0..<traceLength).map { Int32(3 + ($0 * 7919) % (vocab - 3)) }
        func trace(_ tokens: [Int32], hooks pattern: String) throws {
            let hooks = Hooks(capture: HookFilter([pattern]))
            let logits = try model.forward(tokens, hooks: hooks, logits: .all)!
            _ = try backend.read(logits)
            for (_, t) in hooks.captured { _ = try backend.read(t) }
        }
        let traceSeconds = try bestTime(atLeast: 3) { try trace(traceTokens, hooks: "blocks.*.hook_resid_post") }
        let amx = try amxComparison(model, tokens: traceTokens)
        let transformers = ggufPath(location).flatMap { noReference ? nil : transformersTrace($0, tokens: traceLength) }

        // lens vs trace --hooks '*' of the demo prompt, both in this process.
        let demoTrace = try bestTime(atLeast: 3) { try trace(ids, hooks: "*") }
        let lens = try bestTime(atLeast: 3) { _ = try LogitLens.run(model, tokens: ids, topK: 5, target: nil) }

        // The same with the weights kept widened to f32, as the many-pass commands (harvest, scans,
        // evaluations) run: a session's later traces and lenses. Best-of leaves out the first,
        // which widens. transformers holds its weights as f32 too.
        let cpu = backend as? CPUBackend
        cpu?.widenWeights()
        defer { cpu?.widenWeights(upTo: 0) }
        let widenedTrace = try cpu.map { _ in try bestTime(atLeast: 3) { try trace(traceTokens, hooks: "blocks.*.hook_resid_post") } }
        let widenedLens = try cpu.map { _ in try bestTime(atLeast: 3) { _ = try LogitLens.run(model, tokens: ids, topK: 5, target: nil) } }

        // harvest at blocks.6: 128-token contexts, the pass stopped after block 6.
        let harvestLayer = min(6, c.layerCount - 1), contexts = 4
        let harvestSeconds = try bestTime(atLeast: 2) {
            for i in 0..<contexts {
                let context = (0..<traceLength).map { Int32(3 + (($0 + 131 * i) * 7919) % (vocab - 3)) }
                let hooks = Hooks(capture: HookFilter(["blocks.\(harvestLayer).hook_resid_post"]))
                try model.forward(context, hooks: hooks, logits: .none, stopAfterLayer: harvestLayer)
                _ = try backend.read(hooks.activation("blocks.\(harvestLayer).hook_resid_post")!)
            }
        }
        let harvestRate = Double(contexts * (traceLength - 1)) / harvestSeconds
        // The moonshot: an SAE on every layer (weights widened as in the scan commands).
        let scan = try darkMatterScanBench(model, tokens: traceTokens)
        // The roof for all of these: exact f32 products are multiply-adds, at most this many a second.
        let peak = (backend as? CPUBackend)?.kernels.computePeakGigaflops()
        func ofPeak(_ rate: Double) -> String { peak.map { String(format: ", %.0f%% of the FMA peak", 100 * rate / $0) } ?? "" }

        var result: [String: Any] = [
            "model": spec, "backend": backend.name, "startup_seconds": startup,
            "trace_tokens": traceLength, "trace_seconds": traceSeconds,
            "trace_gflops": gflops(rows: traceLength, blocks: c.layerCount, logitRows: traceLength, seconds: traceSeconds),
            "lens_tokens": ids.count, "lens_seconds": lens, "lens_trace_seconds": demoTrace, "lens_to_trace": lens / demoTrace,
            "lens_gflops": gflops(rows: ids.count, blocks: c.layerCount, logitRows: ids.count * (c.layerCount + 1), seconds: lens),
            "harvest_layer": harvestLayer, "harvest_tokens_per_second": harvestRate,
            "harvest_gflops": gflops(rows: contexts * traceLength, blocks: harvestLayer + 1, logitRows: 0, seconds: harvestSeconds),
        ]
        if let peak { result["fma_peak_gflops"] = peak }
        if let widenedTrace, let widenedLens {
            result["widened_trace_seconds"] = widenedTrace
            result["widened_lens_seconds"] = widenedLens
            result["widened_bytes"] = cpu?.widening?.bytesUsed
        }
        result.merge(scan.json) { $1 }
        if let transformers { result["transformers"] = transformers }
        if let amx { result.merge(amx.json) { $1 } }
        if !json {
            print("workloads: \(spec) (\(backend.name)); GFLOP/s count the weight products only")
            if let peak { print(String(format: "  f32 FMA peak of this machine, all cores, measured now: %.0f GFLOP/s", peak)) }
            print(String(format: "  start-up (load, tokenizer, encode; no process start): %.3f s", startup))
            let theirs = transformers?["trace_seconds"] as? Double
            let traceRate = result["trace_gflops"] as! Double
            print(String(format: "  trace %d tokens, every resid_post + all logits: %.3f s (%.0f GFLOP/s%@)", traceLength, traceSeconds,
                         traceRate, ofPeak(traceRate))
                  + (theirs.map { String(format: "   transformers fp32 %.3f s, ratio %.2f×", $0, $0 / traceSeconds) } ?? ""))
            if let theirs, let peak {
                // Its weight products alone, at the peak: no exact f32 forward pass can be faster.
                let floor = traceRate * traceSeconds / peak
                print(String(format: "    at the FMA peak its products alone take %.3f s: at most %.2f× transformers here", floor, theirs / floor))
            }
            amx?.printLine(rows: traceLength, vocabulary: vocab)
            let lensRate = result["lens_gflops"] as! Double
            print(String(format: "  lens of the demo prompt (%d tokens): %.3f s (%.0f GFLOP/s%@); trace --hooks '*' of it %.3f s; lens/trace %.2f",
                         ids.count, lens, lensRate, ofPeak(lensRate), demoTrace, lens / demoTrace))
            if let peak {
                // The lens unembeds every layer: 19 rows of logits per token where a trace has one.
                print(String(format: "    at the FMA peak the lens's products alone take %.3f s: lens/trace at least %.2f here",
                             lensRate * lens / peak, lensRate * lens / peak / demoTrace))
            }
            if widenedTrace != nil, cpu?.widening?.bytesUsed == 0 {
                print("  weights kept widened to f32 (many-pass commands): nothing to widen, every weight is read as stored (AMX)")
            } else if let widenedTrace, let widenedLens {
                print(String(format: "  weights kept widened to f32 (%.0f MB; many-pass commands): trace %.3f s (%.0f GFLOP/s)", 
                             Double(cpu?.widening?.bytesUsed ?? 0) / 1e6, widenedTrace,
                             gflops(rows: traceLength, blocks: c.layerCount, logitRows: traceLength, seconds: widenedTrace))
                      + (theirs.map { String(format: ", ratio to transformers %.2f×", $0 / widenedTrace) } ?? "")
                      + String(format: "; lens %.3f s", widenedLens))
            }
            let harvestRateFlops = result["harvest_gflops"] as! Double
            print(String(format: "  harvest at blocks.%d: %.0f tokens/s (%.0f GFLOP/s%@)", harvestLayer, harvestRate, harvestRateFlops, ofPeak(harvestRateFlops)))
            scan.printLine(tokens: traceLength)
        }
        return result
    }

    var traceLength: Int { 128 }

    func ggufPath(_ location: ModelLocation) -> String? {
        if case let .gguf(path) = location { return path }
        return nil
    }

    /// transformers fp32 (eager attention, the same thread count, the GGUF dequantised as
    /// tools/make_real_goldens.py loads it) running the same trace, when torch is installed.
    func transformersTrace(_ path: String, tokens: Int) -> [String: Any]? {
        pythonReference("bench_transformers.py", [path, "\(tokens)"],
                        unavailable: "transformers reference unavailable (tools/bench_transformers.py needs torch, transformers, gguf and accelerate: pip install torch transformers gguf accelerate)")
    }
}

/// The memory bandwidth a streaming read reaches on this machine (all cores, a buffer far
/// larger than the caches): the roof decode runs under, since it reads every weight per token.
enum StreamRead {
    static func gigabytesPerSecond(megabytes: Int = 512) -> Double {
        let count = megabytes << 20 / 32
        let buffer = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: SIMD8(repeating: 1), count: count)
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let box = StreamBox(buffer)
        var best = Double.infinity
        for _ in 0..<4 {
            let start = Date()
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let lo = count * t / threads, hi = count * (t + 1) / threads
                var a = SIMD8<Float>(), b = SIMD8<Float>()
                var i = lo
                while i + 2 <= hi { a += box.pointer[i]; b += box.pointer[i + 1]; i += 2 }
                if (a + b).sum() == -1 { print("") }  // keeps the sum alive
            }
            best = min(best, Date().timeIntervalSince(start))
        }
        return Double(count * 32) / best / 1e9
    }

    private struct StreamBox: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<SIMD8<Float>>
        init(_ pointer: UnsafeMutablePointer<SIMD8<Float>>) { self.pointer = pointer }
    }
}
