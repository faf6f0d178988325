import CPUBackend
import Foundation
import LanternCore
import VulkanBackend
import XCTest

/// Shared setup for the Vulkan tests: one backend per process (and one forcing staging copies and
/// shared-memory reductions instead of subgroup ones),
/// created with VK_LAYER_KHRONOS_validation; every test fails if the layer reported anything
/// while it ran. No Vulkan device is a failure, not a skip, unless LANTERN_SKIP_VULKAN=1 is set.
class VulkanTestCase: XCTestCase {
    static let shared: Result<VulkanBackend, any Error> = Result { try VulkanBackend(allowCPU: true, validation: true) }
    static let staged: Result<VulkanBackend, any Error> = Result {
        try VulkanBackend(allowCPU: true, validation: true, staging: true, subgroups: false)
    }

    var gpu: VulkanBackend!
    var staging: VulkanBackend!
    let cpu = CPUBackend()
    private var messagesBefore = (0, 0)

    override func setUpWithError() throws {
        if ProcessInfo.processInfo.environment["LANTERN_SKIP_VULKAN"] == "1" {
            throw XCTSkip("LANTERN_SKIP_VULKAN=1")
        }
        do {
            gpu = try Self.shared.get()
            staging = try Self.staged.get()
        } catch {
            XCTFail("no usable Vulkan device (install mesa-vulkan-drivers and vulkan-validationlayers, or set LANTERN_SKIP_VULKAN=1): \(error)")
            throw error
        }
        messagesBefore = (gpu.validationMessageCount, staging.validationMessageCount)
    }

    override func tearDownWithError() throws {
        guard let gpu, let staging else { return }
        try gpu.synchronize()
        try staging.synchronize()
        for (backend, before) in [(gpu, messagesBefore.0), (staging, messagesBefore.1)] where backend.validationMessageCount > before {
            let messages = backend.validationMessages.dropFirst(before).prefix(5)
            XCTFail("validation layer reported \(backend.validationMessageCount - before) message(s): \(messages.joined(separator: "\n"))")
        }
    }

    // MARK: Helpers

    /// Deterministic values in [-scale, scale).
    static func random(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    /// max |a − b| / max |b|.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
        let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        return diff / max(b.map(abs).max() ?? 0, 1e-30)
    }

    func assertClose(_ a: [Float], _ b: [Float], _ tolerance: Float = 1e-5, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        guard a.count == b.count else { return }
        XCTAssertFalse(a.contains { !$0.isFinite }, "\(what): non-finite output", file: file, line: line)
        let err = Self.relativeError(a, b)
        XCTAssertLessThanOrEqual(err, tolerance, "\(what): relative error \(err)", file: file, line: line)
    }
}

/// Weight bytes in f32 / f16 / bf16 kept alive for a HostTensor (the owner).
final class HostBytes: @unchecked Sendable {
    let data: UnsafeMutableRawBufferPointer

    init(_ values: [Float], dtype: DType) {
        switch dtype {
        case .f32:
            data = .allocate(byteCount: values.count * 4, alignment: 16)
            values.withUnsafeBytes { data.copyMemory(from: $0) }
        case .f16:
            data = .allocate(byteCount: values.count * 2, alignment: 16)
            for (i, v) in values.enumerated() { data.storeBytes(of: Float16(v).bitPattern, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            data = .allocate(byteCount: values.count * 2, alignment: 16)
            for (i, v) in values.enumerated() {
                let bits = v.bitPattern
                let rounded = (bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16  // round to nearest even
                data.storeBytes(of: UInt16(rounded), toByteOffset: 2 * i, as: UInt16.self)
            }
        default:
            fatalError("unsupported test dtype \(dtype)")
        }
    }

    deinit { data.deallocate() }

    func host(_ name: String, shape: [Int], dtype: DType) -> HostTensor {
        HostTensor(name: name, shape: shape, dtype: dtype, bytes: UnsafeRawBufferPointer(data), owner: self)
    }
}
