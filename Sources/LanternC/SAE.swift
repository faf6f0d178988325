import Foundation
import Lantern

func sae(_ handle: UnsafeMutableRawPointer?) throws -> SAE { try borrowed(handle, as: SAE.self, what: "SAE") }

/// Loads an SAE (Gemma Scope params.npz or folder, SAELens folder, Gemma Scope 2 folder) on the
/// backend of `model_handle` (the CPU when NULL); `hook` overrides its hook name. NULL on error.
@_cdecl("lantern_sae_load")
public func lantern_sae_load(_ path: UnsafePointer<CChar>?, _ modelHandle: UnsafeMutableRawPointer?,
                             _ hook: UnsafePointer<CChar>?, _ error: ErrorOut) -> UnsafeMutableRawPointer? {
    guarded(error, nil) {
        guard let path = string(path), !path.isEmpty else { throw LanternError.invalidArgument("no SAE path") }
        let owner = try modelHandle.map { try model($0) }
        let loaded = try SAE.load(path: path, backend: owner?.backend ?? CPUBackend(), hook: string(hook))
        if let owner { try loaded.check(against: owner.config) }
        return retained(loaded)
    }
}

@_cdecl("lantern_sae_free")
public func lantern_sae_free(_ handle: UnsafeMutableRawPointer?) { release(handle, as: SAE.self) }

/// The SAE's configuration as JSON (SAELens's names). NULL on error.
@_cdecl("lantern_sae_config")
public func lantern_sae_config(_ handle: UnsafeMutableRawPointer?, _ error: ErrorOut) -> UnsafeMutablePointer<CChar>? {
    guarded(error, nil) {
        let s = try sae(handle), c = s.config
        return try jsonText(["d_in": c.dIn, "d_sae": c.dSAE, "activation": "\(c.activation)",
                             "apply_b_dec_to_input": c.applyBDecToInput, "hook_name": c.hookName,
                             "hook_layer": c.layer ?? NSNull(), "source": s.source] as [String: Any])
    }
}

/// direction 0: encode x [rows, d_in] into out [rows, d_sae]; 1: decode acts [rows, d_sae] into
/// out [rows, d_in]. 0, or -1 on error.
@_cdecl("lantern_sae_apply")
public func lantern_sae_apply(_ handle: UnsafeMutableRawPointer?, _ direction: Int32, _ input: UnsafePointer<Float>?,
                              _ rows: Int64, _ out: UnsafeMutablePointer<Float>?, _ error: ErrorOut) -> Int32 {
    guarded(error, -1) {
        let s = try sae(handle)
        let (inWidth, outWidth) = direction == 0 ? (s.dIn, s.dSAE) : (s.dSAE, s.dIn)
        guard rows > 0, let out else { throw LanternError.invalidArgument("no rows to \(direction == 0 ? "encode" : "decode")") }
        let x = try s.backend.tensor(try floats(input, Int(rows) * inWidth), shape: [Int(rows), inWidth])
        let y = try s.backend.read(direction == 0 ? try s.encode(x) : try s.decode(x))
        guard y.count == Int(rows) * outWidth else { throw LanternError.backend("the SAE returned \(y.count) values") }
        out.update(from: y, count: y.count)
        return 0
    }
}

/// Copies parameter `name` (W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc, b_dec, threshold) into
/// `out`, which holds `capacity` floats. Returns the count written, 0 when the SAE has no such
/// parameter (threshold of a ReLU SAE), or -1 on error.
@_cdecl("lantern_sae_weight")
public func lantern_sae_weight(_ handle: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?,
                               _ out: UnsafeMutablePointer<Float>?, _ capacity: Int64, _ error: ErrorOut) -> Int64 {
    guarded(error, -1) {
        let w = try sae(handle).hostWeights()
        let wanted = string(name) ?? ""
        let values: [Float]? = switch wanted {
        case "W_enc": w.wEnc
        case "W_dec": w.wDec
        case "b_enc": w.bEnc
        case "b_dec": w.bDec
        case "threshold": w.threshold
        default: throw LanternError.invalidArgument("SAE parameter '\(wanted)': expected W_enc, W_dec, b_enc, b_dec or threshold")
        }
        guard let values else { return 0 }
        guard let out, Int64(values.count) <= capacity else {
            throw LanternError.invalidArgument("\(wanted) has \(values.count) values; the buffer holds \(capacity)")
        }
        out.update(from: values, count: values.count)
        return Int64(values.count)
    }
}
