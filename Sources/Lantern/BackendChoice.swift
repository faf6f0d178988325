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
/// fell back to the CPU (why no GPU was taken); nil otherwise.
public func makeBackend(_ kind: BackendKind) throws -> (backend: any Backend, notice: String?) {
    switch kind {
    case .cpu:
        return (CPUBackend(), nil)
    case .vulkan:
        return (try VulkanBackend(allowCPU: true), nil)
    case .auto:
        do {
            return (try VulkanBackend(allowCPU: false), nil)
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
