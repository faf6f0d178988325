import Models
import XCTest
@testable import Training

/// The selections behind TopK and AuxK against sorting.
final class SelectionTests: XCTestCase {
    func testLargestFirstMatchesSorting() {
        var random = SeededGenerator(seed: 12)
        for trial in 0..<300 {
            let n = Int.random(in: 0...70, using: &random), k = Int.random(in: 1...40, using: &random)
            // Few distinct values, so that ties are common.
            var values = (0..<n).map { _ in Float(Int.random(in: 0..<(trial % 2 == 0 ? 5 : 1000), using: &random)) }
            var indices = (0..<n).map(Int32.init)
            let expected = Array(values.sorted(by: >).prefix(k))
            let kept = largestFirst(&values, &indices, k: k)
            XCTAssertEqual(kept, min(k, n))
            XCTAssertEqual(values.prefix(kept).sorted(by: >), expected, "n \(n) k \(k)")
            XCTAssertEqual(Set(indices), Set((0..<n).map(Int32.init)))
        }
    }

    func testTopIndicesBothWays() {
        var random = SeededGenerator(seed: 3)
        let row = (0..<500).map { _ in random.normal() }
        let expected = Array((0..<500).sorted { row[$0] > row[$1] }.prefix(100))
        row.withUnsafeBufferPointer { p in
            XCTAssertEqual(topIndices(p.baseAddress!, count: 500, k: 10), Array(expected.prefix(10)))
            XCTAssertEqual(topIndices(p.baseAddress!, count: 500, k: 100), expected)
        }
    }
}
