import Foundation
import Lantern

/// `bench --rounds N`: the model figures again, Lantern's and llama.cpp's in turn, so that each
/// round's ratio compares the two over the same minutes. On a shared machine a slow stretch of a
/// few seconds can fall on one side's 32 decoded tokens and not the other's; across rounds it
/// moves one ratio, and the run reports the median.
extension Bench {
    /// One more round: Lantern's prefill and decode (after the same prompt in a fresh cache), then
    /// llama.cpp's; the ratios and both sides' rates.
    func round(_ model: Transformer, _ backend: any Backend, prompt: [Int32], reference path: String) throws -> [String: Double] {
        let prefillSeconds = try timedPrefill(model, backend, prompt)
        let cache = try KVCache(model: model, capacity: prompt.count + decode)
        _ = try backend.read(model.forward(prompt, cache: cache, logits: .last)!)
        let median = Self.medianToken(try timedDecode(model, backend, cache: cache).seconds)
        guard let theirs = llamaCpp(path) else { return [:] }
        return ratios(prefill: Double(prompt.count) / prefillSeconds, decode: median > 0 ? 1 / median : 0, theirs)
    }

    /// The prompt's prefill (last logits only), best of two, in seconds.
    func timedPrefill(_ model: Transformer, _ backend: any Backend, _ prompt: [Int32]) throws -> Double {
        try bestTime(atLeast: 2) {
            _ = try model.forward(prompt, logits: .last)
            try backend.finish()
        }
    }

    /// `decode` tokens after what `cache` holds, each timed on its own (the rate is one over the
    /// median token, so that a burst of another process's work, this being often a shared machine,
    /// moves it less than the mean; tools/bench_llamacpp.py times llama.cpp the same way), and with
    /// `counter` the last token's device traffic.
    func timedDecode(_ model: Transformer, _ backend: any Backend, cache: KVCache,
                     counter: DeviceTrafficCounting? = nil) throws -> (seconds: [Double], lastToken: DeviceTraffic?) {
        var seconds: [Double] = [], lastToken: DeviceTraffic?
        for i in 0..<decode {
            let before = i == decode - 1 ? counter?.traffic : nil
            let start = Date()
            _ = try backend.read(model.forward([5], cache: cache, logits: .last)!)
            seconds.append(Date().timeIntervalSince(start))
            if let counter, let before { lastToken = counter.traffic - before }
        }
        return (seconds, lastToken)
    }

    /// The median token's seconds (0 for none).
    static func medianToken(_ seconds: [Double]) -> Double {
        seconds.isEmpty ? 0 : seconds.sorted()[seconds.count / 2]
    }

    func ratios(prefill: Double, decode: Double, _ theirs: [String: Any]) -> [String: Double] {
        let lp = theirs["prefill_tokens_per_second"] as? Double ?? 0, ld = theirs["decode_tokens_per_second"] as? Double ?? 0
        return ["prefill_tokens_per_second": prefill, "decode_tokens_per_second": decode,
                "llama_cpp_prefill_tokens_per_second": lp, "llama_cpp_decode_tokens_per_second": ld,
                "prefill_ratio": lp > 0 ? prefill / lp : 0, "decode_ratio": ld > 0 ? decode / ld : 0]
    }

    /// "rounds: prefill ratios …, median …; decode ratios …, median …".
    func printRounds(_ rounds: [[String: Double]]) {
        func line(_ key: String) -> String {
            let values = rounds.compactMap { $0[key] }
            let median = values.sorted()[values.count / 2]
            return values.map { String(format: "%.2f", $0) }.joined(separator: ", ") + String(format: " (median %.2f)", median)
        }
        print("  \(rounds.count) rounds, Lantern then llama.cpp in each: prefill ratios \(line("prefill_ratio")); decode ratios \(line("decode_ratio"))")
    }
}
