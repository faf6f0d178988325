@testable import CPUBackend
import LanternCore
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

/// `withValues` lends an f32 tensor's own memory (no copy) and other dtypes as read copies.
final class LentValuesTests: XCTestCase {
    func testF32IsLentInPlaceAndOtherDTypesAsCopies() throws {
        let b = CPUBackend()
        let values: [Float] = (0..<37).map { Float($0) * 0.25 - 3 }
        let t = try b.tensor(values, shape: [37])
        let lent = try b.withValues(t) { Array($0) }
        XCTAssertEqual(lent, values)
        let address = try b.withValues(t) { $0.baseAddress }
        XCTAssertEqual(address, UnsafePointer(try t.cpuFloats()), "an f32 tensor is lent in place")
        // An f16 weight comes back widened, exactly as `read` gives it.
        let halves: [Float16] = [1.5, -2, 0.125, 65504]
        let bytes = halves.withUnsafeBytes { Array($0) }
        try bytes.withUnsafeBytes { raw in
            let weight = try b.weight(HostTensor(name: "w", shape: [4], dtype: .f16, bytes: raw, owner: nil))
            XCTAssertEqual(try b.withValues(weight) { Array($0) }, [1.5, -2, 0.125, 65504])
        }
    }
}
