import Foundation
import LanternCore
import Models
import VulkanBackend
import XCTest

/// The Vulkan backend's counters (`DeviceTraffic`), as `bench --backend vulkan` prints them: a
/// decode token is recorded into one command buffer and submitted once, one dispatch per op, and
/// reads back only the logits it is asked for.
final class DeviceTrafficTests: VulkanTestCase {
    func testADecodeTokenIsOneSubmitAndReadsBackOnlyItsLogits() throws {
        let dir = ForwardTests.fixtures.appendingPathComponent("gemma3_tiny").path
        let model = try Transformer(directory: dir, backend: gpu)
        let cache = try KVCache(model: model, capacity: 8)
        _ = try gpu.read(model.forward([2, 17, 40], cache: cache, logits: .last)!)
        let before = gpu.traffic
        let logits = try gpu.read(model.forward([5], cache: cache, logits: .last)!)
        let token = gpu.traffic - before
        XCTAssertEqual(token.submits, 1, token.summary)
        XCTAssertEqual(token.bytesFromDevice, logits.count * 4, "only the logits come back: \(token.summary)")
        XCTAssertEqual(logits.count, model.config.vocabSize)
        XCTAssertLessThanOrEqual(token.bytesToDevice, 64, "the token id and its position, not weights: \(token.summary)")
        // At least one dispatch per layer's projections; never fewer barriers than dispatches.
        XCTAssertGreaterThanOrEqual(token.dispatches, 4 * model.config.layerCount, token.summary)
        XCTAssertGreaterThanOrEqual(token.barriers, token.dispatches, token.summary)

        // Nothing recorded, nothing counted.
        let idle = gpu.traffic
        try gpu.synchronize()
        XCTAssertEqual(gpu.traffic - idle, DeviceTraffic())
    }

    func testTheSummaryNamesEveryCounter() {
        let t = DeviceTraffic(dispatches: 1, submits: 2, barriers: 3, bytesToDevice: 1500, bytesFromDevice: 2_500_000)
        XCTAssertEqual(t.summary, "1 dispatch, 2 submits, 3 barriers, 1.5 KB to the device, 2.5 MB back")
        XCTAssertEqual(t.json["bytes_from_device"], 2_500_000)
    }
}
