import ArgumentParser
import Foundation
import Lantern

/// `lantern devices`: the Vulkan devices the loader reports, and which one `auto` takes.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the Vulkan devices and the backend `auto` picks.")

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let devices: [DeviceInfo]
        do {
            devices = try listDevices()
        } catch {
            if json { print(try jsonString(["devices": [Any](), "error": "\(error)", "auto": "cpu"])); return }
            print("no Vulkan devices: \(error)")
            print("auto → cpu")
            return
        }
        let (auto, notice) = try makeBackend(.auto)
        if json {
            print(try jsonString(["devices": devices.map(\.description), "auto": auto.name, "auto_reason": notice.map { $0 as Any } ?? NSNull()]))
            return
        }
        for device in devices { print(device.description) }
        print("auto → \(auto.name)" + (notice.map { " (\($0))" } ?? ""))
    }
}
