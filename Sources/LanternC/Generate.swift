import Foundation
import Lantern

/// Called with each new token as it is chosen (streaming). Return 0 to go on; anything else when
/// the callback raised (generation then stops with an error).
public typealias TokenCallback = @convention(c) (_ user: UnsafeMutableRawPointer?, _ token: Int32) -> Int32

/// Continues `ids` by up to `max_new` tokens (greedy when temperature ≤ 0; top_k ≤ 0 and top_p ≤ 0
/// mean no cut), with `hooks` (may be NULL) on every step. Writes the new tokens into `*out`
/// (malloc'd; free with lantern_free) and returns their count, or -1 on error.
@_cdecl("lantern_generate")
public func lantern_generate(_ handle: UnsafeMutableRawPointer?, _ pointer: UnsafePointer<Int32>?, _ count: Int64,
                             _ maxNew: Int64, _ temperature: Float, _ topK: Int32, _ topP: Float, _ seed: UInt64,
                             _ stopAtEOS: Int32, _ hookHandle: UnsafeMutableRawPointer?, _ onToken: TokenCallback?,
                             _ user: UnsafeMutableRawPointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?,
                             _ error: ErrorOut) -> Int64 {
    guarded(error, -1) {
        let m = try model(handle)
        let prompt = try ids(pointer, count)
        try checkVocabulary(prompt, m)
        let spec = try hookHandle.map { try borrowed($0, as: HookSpec.self, what: "hooks") }
        let sampler = makeSampler(temperature, topK, topP, seed)
        var raised = false
        let result = try m.transformer.generate(prompt: prompt, maxNewTokens: Int(maxNew), sampler: sampler,
                                                hooks: spec?.makeHooks(), stopAtEOS: stopAtEOS != 0) { token in
            if !raised, let onToken, onToken(user, token) != 0 { raised = true }
        }
        if raised { throw CallbackFailed() }
        let buffer = malloc(max(result.tokens.count, 1) * MemoryLayout<Int32>.stride)!.assumingMemoryBound(to: Int32.self)
        for (i, token) in result.tokens.enumerated() { buffer[i] = token }
        out?.pointee = buffer
        return Int64(result.tokens.count)
    }
}

/// Continues `count` prompts together (`ids` holds them one after another, `lengths[i]` tokens
/// each), each step one batched forward pass over the unfinished ones; otherwise as
/// `lantern_generate` for each prompt alone (the same seed for each, hooks made for each from
/// `hooks`). Writes the new tokens, one generation after another, into `*out` (malloc'd; free with
/// lantern_free) and generation i's count into `new_lengths[i]`; returns the total, or -1 on error.
@_cdecl("lantern_generate_batch")
public func lantern_generate_batch(_ handle: UnsafeMutableRawPointer?, _ pointer: UnsafePointer<Int32>?,
                                   _ lengths: UnsafePointer<Int64>?, _ count: Int64, _ maxNew: Int64, _ temperature: Float,
                                   _ topK: Int32, _ topP: Float, _ seed: UInt64, _ stopAtEOS: Int32,
                                   _ hookHandle: UnsafeMutableRawPointer?, _ newLengths: UnsafeMutablePointer<Int64>?,
                                   _ out: UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?, _ error: ErrorOut) -> Int64 {
    guarded(error, -1) {
        let m = try model(handle)
        let prompts = try sequences(pointer, lengths, count)
        guard let newLengths else { throw LanternError.invalidArgument("no room for the generations' lengths (null pointer)") }
        try checkVocabulary(prompts.flatMap { $0 }, m)
        let spec = try hookHandle.map { try borrowed($0, as: HookSpec.self, what: "hooks") }
        let results = try m.transformer.generate(prompts: prompts, maxNewTokens: Int(maxNew), sampler: makeSampler(temperature, topK, topP, seed),
                                                 hooks: spec.map { spec in { spec.makeHooks() } }, stopAtEOS: stopAtEOS != 0)
        let all = results.flatMap(\.tokens)
        let buffer = malloc(max(all.count, 1) * MemoryLayout<Int32>.stride)!.assumingMemoryBound(to: Int32.self)
        for (i, token) in all.enumerated() { buffer[i] = token }
        for (i, result) in results.enumerated() { newLengths[i] = Int64(result.tokens.count) }
        out?.pointee = buffer
        return Int64(all.count)
    }
}

/// Greedy when temperature ≤ 0; top_k ≤ 0 and top_p ≤ 0 mean no cut.
private func makeSampler(_ temperature: Float, _ topK: Int32, _ topP: Float, _ seed: UInt64) -> Sampler {
    Sampler(temperature: max(temperature, 0), topK: topK > 0 ? Int(topK) : nil, topP: topP > 0 ? topP : nil, seed: seed)
}

private func checkVocabulary(_ tokens: [Int32], _ m: LanternModel) throws {
    let vocab = m.config.vocabSize
    if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocab }) {
        throw LanternError.invalidArgument("token \(bad) is out of range: the vocabulary has \(vocab) tokens")
    }
}
