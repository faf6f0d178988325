import Foundation
import Lantern

/// A hook function from Python: called with a host copy of the activation (`data`, row-major,
/// `rank` dims in `shape`), its hook name, block (-1 for none) and first absolute position. It may
/// overwrite `data`; it returns 1 when the forward pass should continue with `data`, 0 to keep the
/// activation as it was, anything else when it raised (the exception stays with the caller).
public typealias HookCallback = @convention(c) (
    _ user: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?, _ data: UnsafeMutablePointer<Float>?,
    _ shape: UnsafePointer<Int64>?, _ rank: Int32, _ layer: Int32, _ positionStart: Int64
) -> Int32

/// What to capture and which interventions to run, reusable across forward passes.
final class HookSpec {
    var capture: [String]
    var callbacks: [(pattern: String, body: HookCallback, user: UnsafeMutableRawPointer?)] = []
    /// Interventions built in Swift (steering), joined to each pass's hooks.
    var swiftHooks: [Hooks] = []
    init(capture: [String]) { self.capture = capture }

    /// A fresh `Hooks` for one forward pass or one generation.
    func makeHooks() -> Hooks {
        let hooks = Hooks(capture: HookFilter(capture))
        for added in swiftHooks { hooks.intervene(as: added) }
        for callback in callbacks {
            hooks.intervene(callback.pattern) { x, context in
                var values = try context.backend.read(x)
                let shape = x.shape.map(Int64.init)
                let status = values.withUnsafeMutableBufferPointer { buffer in
                    shape.withUnsafeBufferPointer { dims in
                        context.name.withCString { name in
                            callback.body(callback.user, name, buffer.baseAddress, dims.baseAddress, Int32(shape.count),
                                          Int32(context.layer ?? -1), Int64(context.positions.lowerBound))
                        }
                    }
                }
                switch status {
                case 0: return x
                case 1: return try context.backend.tensor(values, shape: x.shape)
                default: throw CallbackFailed()
                }
            }
        }
        return hooks
    }
}

func patterns(_ text: UnsafePointer<CChar>?) -> [String] {
    (string(text) ?? "").split(separator: "\n").map(String.init).filter { !$0.isEmpty }
}

/// Hooks that capture the activations matching `capture` (globs, one per line; NULL for none).
@_cdecl("lantern_hooks_new")
public func lantern_hooks_new(_ capture: UnsafePointer<CChar>?) -> UnsafeMutableRawPointer? {
    retained(HookSpec(capture: patterns(capture)))
}

@_cdecl("lantern_hooks_free")
public func lantern_hooks_free(_ handle: UnsafeMutableRawPointer?) { release(handle, as: HookSpec.self) }

/// Adds a Python function on every hook matching the glob `pattern`. 0, or -1 on error.
@_cdecl("lantern_hooks_add_callback")
public func lantern_hooks_add_callback(_ handle: UnsafeMutableRawPointer?, _ pattern: UnsafePointer<CChar>?,
                                       _ body: HookCallback?, _ user: UnsafeMutableRawPointer?, _ error: ErrorOut) -> Int32 {
    guarded(error, -1) {
        let spec = try borrowed(handle, as: HookSpec.self, what: "hooks")
        guard let pattern = string(pattern), !pattern.isEmpty, let body else {
            throw LanternError.invalidArgument("a hook needs a name (or glob) and a function")
        }
        spec.callbacks.append((pattern, body, user))
        return 0
    }
}

/// The activations a forward pass captured, then "logits" when asked for; host memory lent to
/// the caller for as long as the result lives (the CPU backend's own tensors, no copy).
final class RunResult {
    let names: [UnsafeMutablePointer<CChar>]
    let shapes: [[Int64]]
    let data: [UnsafeMutablePointer<Float>]
    private let keepAlive: [Tensor]
    private var owned: [UnsafeMutablePointer<Float>] = []

    init(_ entries: [(name: String, tensor: Tensor)], backend: any Backend) throws {
        var data: [UnsafeMutablePointer<Float>] = []
        for (_, tensor) in entries {
            if let host = CPUBackend.hostFloats(tensor) {
                data.append(host)
            } else {
                let values = try backend.read(tensor)
                let copy = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
                copy.initialize(from: values, count: values.count)
                owned.append(copy)
                data.append(copy)
            }
        }
        names = entries.map { strdup($0.name)! }
        shapes = entries.map { $0.tensor.shape.map(Int64.init) }
        self.data = data
        keepAlive = entries.map(\.tensor)
    }

    deinit {
        names.forEach { free($0) }
        owned.forEach { $0.deallocate() }
    }
}

/// The C ABI's logits code: 0 none, 1 the last row, 2 every row.
func logitRows(_ code: Int32) -> LogitRows {
    switch code {
    case 0: .none
    case 1: .last
    default: .all
    }
}

/// One forward pass of `ids` with `hooks` (may be NULL). logits: 0 none, 1 the last row, 2 every
/// row. stop_at_layer ≥ 0 ends the pass after that block (no logits). Returns a result, or NULL.
@_cdecl("lantern_run")
public func lantern_run(_ handle: UnsafeMutableRawPointer?, _ pointer: UnsafePointer<Int32>?, _ count: Int64,
                        _ hookHandle: UnsafeMutableRawPointer?, _ logits: Int32, _ stopAtLayer: Int32,
                        _ error: ErrorOut) -> UnsafeMutableRawPointer? {
    guarded(error, nil) {
        let m = try model(handle)
        let tokens = try ids(pointer, count)
        let spec = try hookHandle.map { try borrowed($0, as: HookSpec.self, what: "hooks") }
        let hooks = spec?.makeHooks()
        if stopAtLayer >= m.config.layerCount {
            throw LanternError.invalidArgument("stop_at_layer \(stopAtLayer): the model has \(m.config.layerCount) layers")
        }
        let out = try m.transformer.forward(tokens, hooks: hooks, logits: stopAtLayer >= 0 ? .none : logitRows(logits),
                                            stopAfterLayer: stopAtLayer >= 0 ? Int(stopAtLayer) : nil)
        var entries = hooks?.captured ?? []
        if let out { entries.append(("logits", out)) }
        return retained(try RunResult(entries, backend: m.backend))
    }
}

/// Several sequences in one pass (`Transformer.forward(batch:)`): `ids` holds them one after
/// another, `lengths[i]` tokens each. Every sequence gets its own hooks from `hooks` (captures and
/// Python functions see only its rows, at positions from 0). logits: as `lantern_run`. The result's
/// entries are named "i/hook" and "i/logits" for sequence i, in sequence order. NULL on error.
@_cdecl("lantern_run_batch")
public func lantern_run_batch(_ handle: UnsafeMutableRawPointer?, _ pointer: UnsafePointer<Int32>?,
                              _ lengths: UnsafePointer<Int64>?, _ count: Int64, _ hookHandle: UnsafeMutableRawPointer?,
                              _ logits: Int32, _ error: ErrorOut) -> UnsafeMutableRawPointer? {
    guarded(error, nil) {
        let m = try model(handle)
        let sequences = try sequences(pointer, lengths, count)
        let spec = try hookHandle.map { try borrowed($0, as: HookSpec.self, what: "hooks") }
        let hooks = sequences.map { _ in spec?.makeHooks() }
        let out = try m.transformer.forward(batch: sequences, hooks: hooks, logits: logitRows(logits))
        var entries: [(name: String, tensor: Tensor)] = []
        for i in sequences.indices {
            entries += (hooks[i]?.captured ?? []).map { ("\(i)/\($0.name)", $0.tensor) }
            if let logits = out[i] { entries.append(("\(i)/logits", logits)) }
        }
        return retained(try RunResult(entries, backend: m.backend))
    }
}

@_cdecl("lantern_result_count")
public func lantern_result_count(_ handle: UnsafeMutableRawPointer?) -> Int64 {
    guard let handle else { return 0 }
    return Int64(Unmanaged<RunResult>.fromOpaque(handle).takeUnretainedValue().names.count)
}

/// Entry `index`: its name, rank, shape (up to 4 dims written into `shape`) and values. 0, or -1.
@_cdecl("lantern_result_entry")
public func lantern_result_entry(_ handle: UnsafeMutableRawPointer?, _ index: Int64,
                                 _ name: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ rank: UnsafeMutablePointer<Int32>?,
                                 _ shape: UnsafeMutablePointer<Int64>?, _ data: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>?,
                                 _ error: ErrorOut) -> Int32 {
    guarded(error, -1) {
        let result = try borrowed(handle, as: RunResult.self, what: "result")
        guard index >= 0, Int(index) < result.names.count else {
            throw LanternError.invalidArgument("result entry \(index) is out of range (0..<\(result.names.count))")
        }
        let i = Int(index), dims = result.shapes[i]
        guard dims.count <= 4 else { throw LanternError.unsupported("a \(dims.count)-dimensional activation") }
        name?.pointee = UnsafePointer(result.names[i])
        rank?.pointee = Int32(dims.count)
        for (d, size) in dims.enumerated() { shape?[d] = size }
        data?.pointee = result.data[i]
        return 0
    }
}

@_cdecl("lantern_result_free")
public func lantern_result_free(_ handle: UnsafeMutableRawPointer?) { release(handle, as: RunResult.self) }
