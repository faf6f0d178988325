import Foundation
import Lantern
import XCTest

/// Backend choice without a usable Vulkan: no loader (LANTERN_VULKAN_LOADER pointing at nothing,
/// the same dlopen failure as a machine without libvulkan), no driver (VK_DRIVER_FILES pointing at
/// nothing, read by the real loader), and `auto` on a machine whose only device is CPU-type.
/// These run whether or not a Vulkan device exists (they do not use VulkanTestCase).
final class FallbackTests: XCTestCase {
    func withEnvironment<T>(_ name: String, _ value: String, _ body: () throws -> T) rethrows -> T {
        let old = ProcessInfo.processInfo.environment[name]
        setenv(name, value, 1)
        defer { if let old { setenv(name, old, 1) } else { unsetenv(name) } }
        return try body()
    }

    func testNoLoader() throws {
        try withEnvironment("LANTERN_VULKAN_LOADER", "/nonexistent/libvulkan.so.1") {
            XCTAssertThrowsError(try makeBackend(.vulkan)) {
                XCTAssertEqual("\($0)", "backend: vulkan: no Vulkan loader: cannot open /nonexistent/libvulkan.so.1")
            }
            XCTAssertThrowsError(try listDevices()) { XCTAssertTrue("\($0)".contains("no Vulkan loader"), "\($0)") }
            let (backend, notice) = try makeBackend(.auto)
            XCTAssertTrue(backend is CPUBackend)
            XCTAssertEqual(notice, "using the CPU backend: vulkan: no Vulkan loader: cannot open /nonexistent/libvulkan.so.1")
        }
    }

    func testNoDriver() throws {
        try withEnvironment("VK_DRIVER_FILES", "/nonexistent/icd.json") {
            XCTAssertThrowsError(try makeBackend(.vulkan)) {
                XCTAssertTrue("\($0)".hasPrefix("backend: vulkan: no Vulkan driver"), "\($0)")
                XCTAssertFalse("\($0)".contains("\n"), "one line")
            }
            XCTAssertThrowsError(try listDevices()) { XCTAssertTrue("\($0)".contains("no Vulkan driver"), "\($0)") }
            let (backend, notice) = try makeBackend(.auto)
            XCTAssertTrue(backend is CPUBackend)
            XCTAssertTrue(notice?.hasPrefix("using the CPU backend: vulkan: no Vulkan driver") ?? false, notice ?? "no notice")
        }
    }

    /// `auto` takes a real GPU when there is one and never a CPU-type device; `cpu` is always the CPU.
    func testAutoSkipsCPUTypeDevices() throws {
        XCTAssertTrue(try makeBackend(.cpu).backend is CPUBackend)
        XCTAssertNil(try makeBackend(.cpu).notice)
        let devices = (try? listDevices()) ?? []
        let (backend, notice) = try makeBackend(.auto)
        if devices.contains(where: { $0.usable && $0.type.isGPU }) {
            XCTAssertTrue(backend is VulkanBackend, "a GPU is present: \(devices)")
            XCTAssertNil(notice)
        } else {
            XCTAssertTrue(backend is CPUBackend)
            XCTAssertNotNil(notice)
            if devices.contains(where: { $0.type == .cpu }) {
                XCTAssertEqual(notice, "using the CPU backend: vulkan: no GPU: only CPU-type Vulkan devices (such as lavapipe)")
            }
        }
    }

    func testDeviceListing() throws {
        if ProcessInfo.processInfo.environment["LANTERN_SKIP_VULKAN"] == "1" { throw XCTSkip("LANTERN_SKIP_VULKAN=1") }
        let devices = try listDevices()
        XCTAssertFalse(devices.isEmpty, "no Vulkan devices")
        for d in devices {
            XCTAssertFalse(d.name.isEmpty)
            XCTAssertGreaterThan(d.memoryBytes, 0)
            print("vulkan device \(d)")
        }
        let backend = try makeBackend(.vulkan).backend
        XCTAssertTrue(backend.name.hasPrefix("vulkan ("), backend.name)
    }
}
