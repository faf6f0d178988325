import CVulkan
import Foundation
import LanternCore

/// What kind of Vulkan device a physical device is (VkPhysicalDeviceType).
public enum DeviceType: String, Sendable {
    case discrete, integrated, virtual, cpu, other

    init(_ raw: Int32) {
        switch raw {
        case Int32(LV_TYPE_DISCRETE): self = .discrete
        case Int32(LV_TYPE_INTEGRATED): self = .integrated
        case Int32(LV_TYPE_VIRTUAL): self = .virtual
        case Int32(LV_TYPE_CPU): self = .cpu
        default: self = .other
        }
    }

    /// A real GPU (what `auto` takes); CPU-type devices such as lavapipe are not.
    public var isGPU: Bool { self == .discrete || self == .integrated || self == .virtual }
}

/// One Vulkan physical device as `lantern devices` shows it.
public struct DeviceInfo: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var name: String
    public var driver: String
    public var type: DeviceType
    public var apiVersion: String
    /// Sum of the device-local memory heaps.
    public var memoryBytes: UInt64
    public var subgroupSize: Int
    /// Subgroup arithmetic (subgroupAdd, ...) in compute shaders.
    public var subgroupArithmetic: Bool
    public var shaderFloat16: Bool
    public var storage16Bit: Bool
    public var bfloat16: Bool
    public var cooperativeMatrix: Bool
    /// Vulkan 1.2 and a compute queue: what the backend needs.
    public var usable: Bool
    /// The largest buffer a shader can bind (maxStorageBufferRange, maxMemoryAllocationSize).
    public var maxBufferBytes: UInt64

    init(index: Int, _ raw: lv_device_info) {
        var raw = raw
        func string<T>(_ tuple: inout T) -> String {
            withUnsafeBytes(of: &tuple) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        self.index = index
        name = string(&raw.name)
        driver = string(&raw.driver).trimmingCharacters(in: .whitespaces)
        type = DeviceType(raw.type)
        let v = raw.api_version
        apiVersion = "\(v >> 22 & 0x7f).\(v >> 12 & 0x3ff).\(v & 0xfff)"
        memoryBytes = raw.device_local_bytes
        subgroupSize = Int(raw.subgroup_size)
        subgroupArithmetic = raw.subgroup_arithmetic != 0
        shaderFloat16 = raw.shader_float16 != 0
        storage16Bit = raw.storage_16bit != 0
        bfloat16 = raw.bfloat16 != 0
        cooperativeMatrix = raw.cooperative_matrix != 0
        usable = raw.usable != 0
        maxBufferBytes = raw.max_buffer_bytes
    }

    public var description: String {
        let gib = String(format: "%.1f GiB", Double(memoryBytes) / 1_073_741_824)
        let features = [shaderFloat16 ? "fp16" : nil, storage16Bit ? "16-bit storage" : nil,
                        bfloat16 ? "bf16" : nil, cooperativeMatrix ? "cooperative matrix" : nil].compactMap { $0 }
        return "\(index): \(name) (\(type), Vulkan \(apiVersion), \(gib), subgroup \(subgroupSize)"
            + (features.isEmpty ? "" : ", " + features.joined(separator: ", ")) + (usable ? "" : ", not usable") + ")"
    }
}

/// The one-line message for a shim failure.
func vulkanError(_ code: Int32, _ what: String) -> LanternError {
    let detail = String(cString: lv_last_error())
    return .backend("vulkan: \(detail.isEmpty ? "\(what) failed (code \(code))" : detail)")
}

/// Every Vulkan device the loader reports. Throws a one-line error when there is no loader or no driver.
public func vulkanDevices() throws -> [DeviceInfo] {
    var raw = [lv_device_info](repeating: lv_device_info(), count: 16)
    var count: Int32 = 0
    let rc = lv_list_devices(&raw, Int32(raw.count), &count)
    guard rc == 0 else { throw vulkanError(rc, "listing devices") }
    return (0..<min(Int(count), raw.count)).map { DeviceInfo(index: $0, raw[$0]) }
}

/// A Vulkan context (instance, device, queue) and the buffers made on it. Buffers keep their
/// device alive; freed buffers go back to a pool of size classes for the next tensor.
final class Device: @unchecked Sendable {
    let ctx: OpaquePointer
    let info: DeviceInfo
    private let lock = NSLock()
    private var free: [UInt64: [OpaquePointer]] = [:]
    private var pooledBytes: UInt64 = 0
    /// Freed buffers beyond this many bytes are released to the driver instead of pooled.
    private let poolLimit: UInt64 = 1 << 30

    init(index: Int?, allowCPU: Bool, validation: Bool, direct: Bool?) throws {
        var ctx: OpaquePointer?
        let rc = lv_create(Int32(index ?? -1), allowCPU ? 1 : 0, validation ? 1 : 0, direct.map { $0 ? 1 : 0 } ?? -1, &ctx)
        guard rc == 0, let ctx else { throw vulkanError(rc, "creating a device") }
        self.ctx = ctx
        var raw = lv_device_info()
        lv_context_info(ctx, &raw)
        info = DeviceInfo(index: index ?? -1, raw)
    }

    deinit {
        for (_, list) in free { for b in list { lv_buffer_destroy(ctx, b) } }
        lv_destroy(ctx)
    }

    /// Size classes: four per power of two, so a reused buffer wastes at most a quarter.
    static func sizeClass(_ bytes: Int) -> UInt64 {
        let n = UInt64(max(bytes, 256))
        let top = 63 - UInt64(n.leadingZeroBitCount)
        let step = (UInt64(1) << max(top, 2)) >> 2
        return (n + step - 1) / step * step
    }

    func buffer(bytes: Int) throws -> OpaquePointer {
        var size = Self.sizeClass(bytes)
        if size > info.maxBufferBytes {
            guard UInt64(bytes) <= info.maxBufferBytes else {
                throw LanternError.unsupported("a \(bytes)-byte tensor on \(info.name): the device binds at most \(info.maxBufferBytes) bytes per buffer")
            }
            size = (UInt64(bytes) + 15) / 16 * 16
        }
        if let b = lock.locked({ () -> OpaquePointer? in
            guard let b = free[size]?.popLast() else { return nil }
            pooledBytes -= size
            return b
        }) { return b }
        var b: OpaquePointer?
        let rc = lv_buffer_create(ctx, size, &b)
        guard rc == 0, let b else { throw vulkanError(rc, "allocating \(size) bytes") }
        return b
    }

    func recycle(_ b: OpaquePointer) {
        let size = lv_buffer_size(b)
        let keep = lock.locked { () -> Bool in
            guard pooledBytes + size <= poolLimit else { return false }
            free[size, default: []].append(b)
            pooledBytes += size
            return true
        }
        if !keep { lv_buffer_destroy(ctx, b) }
    }

    var messages: [String] {
        (0..<Int(lv_message_count(ctx))).map { String(cString: lv_message(ctx, Int32($0))) }
    }
    var messageCount: Int { Int(lv_message_count(ctx)) }
}

/// A device buffer behind a tensor. Returned to the pool when the last tensor using it goes.
final class VulkanStorage: TensorStorage, @unchecked Sendable {
    let device: Device
    let buffer: OpaquePointer
    let byteCount: Int

    init(device: Device, bytes: Int) throws {
        self.device = device
        buffer = try device.buffer(bytes: bytes)
        byteCount = bytes
    }

    deinit { device.recycle(buffer) }
}

extension Tensor {
    /// The Vulkan buffer of this tensor, checked to belong to `device`.
    func vulkanStorage(_ device: Device) throws -> VulkanStorage {
        if storage is VulkanSplitStorage {
            throw LanternError.unsupported("a weight \(shape) split across device buffers (larger than one buffer binds) takes only matmul, embed and saeEncode")
        }
        guard let s = storage as? VulkanStorage, s.device === device else {
            throw LanternError.backend("tensor \(shape) belongs to another backend, not this Vulkan backend")
        }
        return s
    }

    /// byteOffset in elements of this tensor's dtype (what the shaders index by); for block-quantised
    /// weights the byte offset itself, which must be even (blocks are read as 16-bit halves).
    var elementOffset: UInt32 {
        get throws {
            switch dtype {
            case .f32: return UInt32(byteOffset / 4)
            case .f16, .bf16: return UInt32(byteOffset / 2)
            default:
                guard byteOffset % 2 == 0 else {
                    throw LanternError.unsupported("\(dtype) weights at the odd byte offset \(byteOffset) on the Vulkan backend")
                }
                return UInt32(byteOffset)
            }
        }
    }
}
