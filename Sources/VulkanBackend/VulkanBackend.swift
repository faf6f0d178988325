import CVulkan
import Foundation
import LanternCore

/// Lantern's GPU backend: every op is a SPIR-V compute shader (Shaders/*.comp), recorded into one
/// command buffer with a barrier between commands, and submitted only when `read` needs a result.
/// Weights are uploaded once (cached by the identity of their host bytes); activations live in
/// pooled device buffers that return to the pool when their tensors go.
///
/// Environment: `LANTERN_VULKAN_VALIDATION=1` enables VK_LAYER_KHRONOS_validation and collects
/// its messages (`validationMessages`); `LANTERN_VULKAN_STAGING=1` forces device-local buffers with
/// staging copies even where device memory is host-visible.
public final class VulkanBackend: Backend, DeviceTrafficCounting, @unchecked Sendable {
    let device: Device
    let pipelines: PipelineCache
    let lock = NSLock()
    /// Buffers that recorded, unsubmitted commands use: kept alive until the submission finishes.
    var inFlight: [VulkanStorage] = []
    var weightCache: [WeightKey: WeightEntry] = [:]
    var ropeTables: [RopeKey: (storage: VulkanStorage, positions: Int)] = [:]
    /// The last packed batch's per-row index buffers (see `rowIndexBuffer`), by their values.
    var rowIndexBuffers: [[Int32]: VulkanStorage] = [:]
    /// Weights larger than this many bytes (or than the device binds) are split by rows across
    /// buffers; tests lower it to exercise the split path on small weights.
    var maxWeightPartBytes = Int.max
    /// Where the register-blocked tiles start (`defaultLargeTileGroups`); tests lower it.
    var largeTileGroups = VulkanBackend.defaultLargeTileGroups

    /// Opens device `index` (nil: the best usable one; CPU-type devices only when `allowCPU`).
    /// `validation` and `staging` default to the environment variables above; `staging: false`
    /// lets the device decide (host-visible memory on integrated and CPU devices). `subgroups: false`
    /// keeps to the shared-memory reductions even where the device has subgroup arithmetic.
    public init(device index: Int? = nil, allowCPU: Bool = true, validation: Bool? = nil, staging: Bool? = nil,
                subgroups: Bool = true, matmul: MatmulArithmetic = .f32) throws {
        let env = ProcessInfo.processInfo.environment
        let validate = validation ?? (env["LANTERN_VULKAN_VALIDATION"] == "1")
        let direct: Bool? = (staging ?? (env["LANTERN_VULKAN_STAGING"] == "1")) ? false : nil
        device = try Device(index: index, allowCPU: allowCPU, validation: validate, direct: direct)
        pipelines = PipelineCache(device: device)
        useSubgroups = subgroups && device.info.subgroupArithmetic
        if matmul == .f16 && !device.info.shaderFloat16 {
            throw LanternError.unsupported("f16 matmul arithmetic: \(device.info.name) has no f16 shader arithmetic (shaderFloat16)")
        }
        matmulArithmetic = matmul
    }

    /// Whether reductions use the `subgroup` shader variants.
    public let useSubgroups: Bool

    /// How the many-row (tiled) products multiply: f32 (exact, the default) or f16 (opt-in).
    public let matmulArithmetic: MatmulArithmetic

    /// The `_subgroup` form of a shader variant (`base`: a quantised type's, or nil for the plain
    /// shader) where reductions use subgroups. Shaders of 128 invocations keep a shared slot for
    /// each of at most 32 subgroups, so they take it for subgroups of 4 invocations or more.
    func subgroupVariant(_ base: String?) -> String? {
        guard useSubgroups, device.info.subgroupSize >= 4 else { return base }
        return base.map { $0 + "_subgroup" } ?? "subgroup"
    }

    deinit { _ = lv_flush(device.ctx) }

    public var name: String { "vulkan (\(device.info.name)\(matmulArithmetic == .f16 ? ", f16 matmul" : ""))" }
    public var deviceInfo: DeviceInfo { device.info }
    public var largestTensorBytes: Int { Int(clamping: device.info.maxBufferBytes) }

    /// Validation-layer warnings and errors so far (the first 64), when validation is on.
    public var validationMessages: [String] { device.messages }
    public var validationMessageCount: Int { device.messageCount }

    /// GPU time of the last submitted command buffer (timestamp queries), in seconds; nil if unknown.
    public var lastGPUTime: Double? {
        let ns = lv_last_gpu_ns(device.ctx)
        return ns == 0 ? nil : Double(ns) / 1e9
    }

    /// Dispatches, submits, barriers and bytes moved each way since this backend was made.
    public var traffic: DeviceTraffic {
        var t = lv_traffic()
        lock.locked { lv_traffic_read(device.ctx, &t) }
        return DeviceTraffic(dispatches: Int(t.dispatches), submits: Int(t.submits), barriers: Int(t.barriers),
                             bytesToDevice: Int(t.bytes_to_device), bytesFromDevice: Int(t.bytes_from_device))
    }

    /// Commands recorded and not yet submitted (ops run only when a `read` needs them).
    public var pendingCommands: Int { lock.locked { Int(lv_pending(device.ctx)) } }

    /// The protocol's name for `synchronize`.
    public func finish() throws { try synchronize() }

    /// Submits recorded work and waits for it.
    public func synchronize() throws {
        let finished: [VulkanStorage] = try lock.locked {
            let rc = lv_flush(device.ctx)
            guard rc == 0 else { throw vulkanError(rc, "submitting") }
            defer { inFlight = [] }
            return inFlight
        }
        _ = finished  // released here, outside the lock
    }

    // MARK: Recording

    func newStorage(bytes: Int) throws -> VulkanStorage { try VulkanStorage(device: device, bytes: bytes) }

    func f32Tensor(_ shape: [Int]) throws -> Tensor {
        Tensor(shape: shape, dtype: .f32, storage: try newStorage(bytes: shape.reduce(1, *) * 4))
    }

    /// Records one dispatch; caller does not hold the lock.
    func dispatch(_ shader: Shader, variant: String? = nil, spec: [UInt32] = [], buffers: [VulkanStorage], push: [UInt32],
                  groups: (Int, Int, Int)) throws {
        precondition(push.count * 4 == shader.pushBytes, "\(shader) push constants")
        guard groups.0 <= 65535, groups.1 <= 65535, groups.2 <= 65535 else {
            throw LanternError.unsupported("\(shader.rawValue) dispatch of \(groups) workgroups exceeds the guaranteed 65535 per dimension")
        }
        try lock.locked {
            let pipeline = try pipelines.pipeline(shader, variant: variant, spec: spec)
            let handles: [OpaquePointer?] = buffers.map(\.buffer)
            let rc = handles.withUnsafeBufferPointer { b in
                push.withUnsafeBytes { p in
                    lv_dispatch(device.ctx, pipeline, b.baseAddress, Int32(b.count), p.baseAddress, UInt32(p.count),
                                UInt32(groups.0), UInt32(groups.1), UInt32(groups.2))
                }
            }
            guard rc == 0 else { throw vulkanError(rc, "recording \(shader.rawValue)") }
            inFlight.append(contentsOf: buffers)
        }
    }

    /// Workgroups for `count` invocations in groups of `size`, folded into y past 65535.
    static func grid(_ count: Int, _ size: Int) -> (Int, Int, Int) {
        let groups = max(1, (count + size - 1) / size)
        let x = min(groups, 65535)
        return (x, (groups + x - 1) / x, 1)
    }

    func requireF32(_ op: String, _ tensors: Tensor...) throws {
        for t in tensors where t.dtype != .f32 {
            throw LanternError.unsupported("\(op): expected an f32 activation, got \(t.dtype) \(t.shape)")
        }
    }
}

extension NSLock {
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
