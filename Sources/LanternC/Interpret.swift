import Foundation
import Lantern

/// Adds Lantern's own steering (Steering.hooks: `lantern steer`'s intervention) to `hooks`:
/// features of `sae_handle` (may be NULL) and/or a raw `direction` (NULL, or d values) at `hook`
/// (NULL: the SAE's), `strength`, mode "add" or "clamp". 0, or -1 on error.
@_cdecl("lantern_hooks_add_steering")
public func lantern_hooks_add_steering(_ hookHandle: UnsafeMutableRawPointer?, _ modelHandle: UnsafeMutableRawPointer?,
                                       _ saeHandle: UnsafeMutableRawPointer?, _ features: UnsafePointer<Int64>?,
                                       _ featureCount: Int64, _ direction: UnsafePointer<Float>?, _ directionCount: Int64,
                                       _ hook: UnsafePointer<CChar>?, _ strength: Float, _ mode: UnsafePointer<CChar>?,
                                       _ error: ErrorOut) -> Int32 {
    guarded(error, -1) {
        let spec = try borrowed(hookHandle, as: HookSpec.self, what: "hooks")
        let m = try model(modelHandle)
        let modeName = string(mode) ?? "add"
        guard let steeringMode = SteeringMode(rawValue: modeName) else {
            throw LanternError.invalidArgument("steering mode '\(modeName)': expected add or clamp")
        }
        let featureList = featureCount > 0 && features != nil
            ? UnsafeBufferPointer(start: features, count: Int(featureCount)).map(Int.init) : []
        let steering = Steering(sae: try saeHandle.map { try sae($0) }, features: featureList,
                                direction: directionCount > 0 ? try floats(direction, Int(directionCount)) : nil,
                                hookName: string(hook), strength: strength, mode: steeringMode)
        spec.swiftHooks.append(try steering.hooks(for: m.transformer))
        return 0
    }
}

/// The logit lens (and a tuned lens from `tuned`, a folder, when not NULL) of `ids` as JSON: per
/// row (embed, then each block) and position the top_k tokens and probabilities, the entropy,
/// and the target's rank and probability (target < 0: the model's own answer). NULL on error.
@_cdecl("lantern_lens")
public func lantern_lens(_ handle: UnsafeMutableRawPointer?, _ pointer: UnsafePointer<Int32>?, _ count: Int64,
                         _ topK: Int32, _ target: Int32, _ tuned: UnsafePointer<CChar>?, _ error: ErrorOut) -> UnsafeMutablePointer<CChar>? {
    guarded(error, nil) {
        let m = try model(handle)
        let lens = try string(tuned).map { try TunedLens.load(directory: $0) }
        let result = try LogitLens.run(m.transformer, tokens: try ids(pointer, count), topK: Int(max(topK, 1)),
                                       target: target >= 0 ? target : nil, tuned: lens)
        func table(_ cells: [[LensCell]]) -> [String: Any] {
            ["top_tokens": cells.map { $0.map { $0.top.map { Int($0.token) } } },
             "top_probs": cells.map { $0.map { $0.top.map { Double($0.probability) } } },
             "entropy": cells.map { $0.map { Double($0.entropy) } },
             "target_rank": cells.map { $0.map { $0.targetRank ?? 0 } },
             "target_prob": cells.map { $0.map { Double($0.targetProbability ?? -1) } }]
        }
        func answer(_ a: LensAnswer) -> [String: Any] {
            ["token": Int(a.token), "ranks": a.ranks, "probs": a.probabilities.map(Double.init)]
        }
        var object: [String: Any] = ["labels": result.rowLabels, "hook_names": result.hookNames,
                                     "logit": table(result.cells), "answer": answer(result.answer)]
        if let cells = result.tunedCells, let tunedAnswer = result.tunedAnswer {
            object["tuned"] = table(cells)
            object["tuned_answer"] = answer(tunedAnswer)
        }
        return try jsonText(object)
    }
}

/// Logit-lens logits of residuals x [rows, d_model] (the model's final norm and unembedding, with
/// Gemma 2's softcap) into out [rows, vocab]. 0, or -1 on error.
@_cdecl("lantern_lens_logits")
public func lantern_lens_logits(_ handle: UnsafeMutableRawPointer?, _ input: UnsafePointer<Float>?, _ rows: Int64,
                                _ out: UnsafeMutablePointer<Float>?, _ error: ErrorOut) -> Int32 {
    guarded(error, -1) {
        let m = try model(handle)
        let d = m.config.hiddenSize
        guard rows > 0, let out else { throw LanternError.invalidArgument("no residual rows") }
        let x = try m.backend.tensor(try floats(input, Int(rows) * d), shape: [Int(rows), d])
        let logits = try m.backend.read(try LogitLens.logits(m.transformer, residual: x))
        out.update(from: logits, count: logits.count)
        return 0
    }
}
