@testable import CPUBackend
@testable import CPUKernels
import XCTest

/// The packed GEMM's activation tiles: the 16-column interleave (AVX-512 builds) and the plain
/// loop give the same floats, for partial tiles and column counts around the 16-wide chunks.
final class ActivationPackingTests: XCTestCase {
    func testPackingMatchesThePlainLoop() {
        for n in [1, 5, 6, 7, 12, 13, 128] {
            for k in [1, 15, 16, 17, 33, 64, 640] {
                let x = (0..<(n * k)).map { Float($0) + 0.25 }
                let expected = x.withUnsafeBufferPointer { PackedMatmul.packActivationsReference($0.baseAddress!, n: n, k: k) }
                let packed = x.withUnsafeBufferPointer { PackedMatmul.packActivations($0.baseAddress!, n: n, k: k) }
                defer { packed.deallocate() }
                let got = Array(UnsafeBufferPointer(start: packed, count: expected.count))
                XCTAssertEqual(got, expected, "n \(n), k \(k)")
            }
        }
    }
}
