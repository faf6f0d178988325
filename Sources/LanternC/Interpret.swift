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
