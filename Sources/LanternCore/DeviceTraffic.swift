/// The work a device backend has sent and the bytes it has moved, counted since it was made: what
/// decides a GPU pass's speed beside the arithmetic (every submit is a round trip to the driver;
/// every byte read back crosses PCIe). `bench` prints the difference around a forward pass.
public struct DeviceTraffic: Sendable, Equatable {
    public var dispatches = 0, submits = 0, barriers = 0
    public var bytesToDevice = 0, bytesFromDevice = 0

    public init(dispatches: Int = 0, submits: Int = 0, barriers: Int = 0, bytesToDevice: Int = 0, bytesFromDevice: Int = 0) {
        (self.dispatches, self.submits, self.barriers) = (dispatches, submits, barriers)
        (self.bytesToDevice, self.bytesFromDevice) = (bytesToDevice, bytesFromDevice)
    }

    public static func - (a: Self, b: Self) -> Self {
        Self(dispatches: a.dispatches - b.dispatches, submits: a.submits - b.submits, barriers: a.barriers - b.barriers,
             bytesToDevice: a.bytesToDevice - b.bytesToDevice, bytesFromDevice: a.bytesFromDevice - b.bytesFromDevice)
    }

    /// "812 dispatches, 1 submit, 813 barriers, 2.0 KB to the device, 1.0 MB back".
    public var summary: String {
        func bytes(_ n: Int) -> String {
            n >= 1_000_000 ? String(format: "%.1f MB", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1f KB", Double(n) / 1e3) : "\(n) B"
        }
        func count(_ n: Int, _ one: String, _ many: String) -> String { "\(n) \(n == 1 ? one : many)" }
        return "\(count(dispatches, "dispatch", "dispatches")), \(count(submits, "submit", "submits")), "
            + "\(count(barriers, "barrier", "barriers")), \(bytes(bytesToDevice)) to the device, \(bytes(bytesFromDevice)) back"
    }

    public var json: [String: Int] {
        ["dispatches": dispatches, "submits": submits, "barriers": barriers,
         "bytes_to_device": bytesToDevice, "bytes_from_device": bytesFromDevice]
    }
}

/// A backend that counts its `DeviceTraffic` (the Vulkan backend).
public protocol DeviceTrafficCounting {
    var traffic: DeviceTraffic { get }
}
