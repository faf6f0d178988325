@testable import CPUBackend
import XCTest

/// Large buffers are pooled by size: a reused buffer is zeroed again when asked, and every size
/// (small, large, odd) is usable end to end.
final class HostMemoryTests: XCTestCase {
    func testReusedBuffersComeBackZeroed() {
        let bytes = HostMemory.largeBytes + 4 * 1001
        let p = HostMemory.allocate(bytes, zeroed: true)
        XCTAssertEqual(Int(bitPattern: p) % 64, 0)
        XCTAssertTrue(UnsafeRawBufferPointer(start: p, count: bytes).allSatisfy { $0 == 0 })
        memset(p, 0xAB, bytes)
        HostMemory.free(p, bytes)
        let q = HostMemory.allocate(bytes, zeroed: true)
        XCTAssertEqual(q, p, "the freed buffer of the same size is reused")
        XCTAssertTrue(UnsafeRawBufferPointer(start: q, count: bytes).allSatisfy { $0 == 0 })
        HostMemory.free(q, bytes)
    }

    func testEverySizeIsWritable() {
        for bytes in [0, 4, 63, 4096, HostMemory.largeBytes - 4, HostMemory.largeBytes, 3 << 20] {
            for zeroed in [true, false] {
                let p = HostMemory.allocate(bytes, zeroed: zeroed)
                memset(p, 1, bytes)
                HostMemory.free(p, bytes)
            }
        }
        let mapped = HostMemory.map(5 << 20)
        XCTAssertTrue(UnsafeRawBufferPointer(start: mapped, count: 5 << 20).allSatisfy { $0 == 0 })
        HostMemory.unmap(mapped, 5 << 20)
    }
}
