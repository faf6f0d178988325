import CPUBackend
import LanternCore
import VulkanBackend

/// `--backend auto|cpu|vulkan`.
public enum BackendKind: String, Sendable, CaseIterable {
    /// A real GPU (discrete, integrated or virtual) through Vulkan if there is one, else the CPU.
    case auto
    case cpu
    /// The best Vulkan device, CPU-type ones (lavapipe) included; an error when there is none.
    case vulkan
}

/// Makes the backend `kind` asks for. `notice` is a one-line remark for the user when `auto`
/// fell back to the CPU (why no GPU was taken); nil otherwise. `vulkanMatmul` is the Vulkan
/// backend's tile arithmetic (f16 is opt-in and not exact); the CPU backend is always f32.
public func makeBackend(_ kind: BackendKind, vulkanMatmul: MatmulArithmetic = .f32) throws -> (backend: any Backend, notice: String?) {
    switch kind {
    case .cpu:
        return (CPUBackend(), nil)
    case .vulkan:
        return (try VulkanBackend(allowCPU: true, matmul: vulkanMatmul), nil)
    case .auto:
        do {
            return (try VulkanBackend(allowCPU: false, matmul: vulkanMatmul), nil)
        } catch {
            let reason = (error as? LanternError).map { message(of: $0) } ?? "\(error)"
            return (CPUBackend(), "using the CPU backend: \(reason)")
        }
    }
}

/// The Vulkan devices the loader reports, for `lantern devices`; a one-line error when there is
/// no Vulkan loader or driver.
public func listDevices() throws -> [DeviceInfo] { try vulkanDevices() }

private func message(of error: LanternError) -> String {
    if case let .backend(text) = error { return text }
    return error.description
}
