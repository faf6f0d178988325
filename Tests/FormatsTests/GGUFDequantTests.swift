import Foundation
import LanternCore
import XCTest

/// Every GGUF type against the `gguf` Python package's dequantize (fixtures from
/// tools/make_quant_fixtures.py: random blocks plus blocks cut from the real models).
final class GGUFDequantTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/quant")

    func check(_ dtype: DType, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = Self.fixtures.appendingPathComponent("\(dtype.rawValue).json")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let count = try XCTUnwrap(json["count"] as? Int)
        let raw = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(json["bytes"] as? String)))
        let expectedBytes = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(json["expected"] as? String)))
        let expected = expectedBytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(expected.count, count)
        let got = try raw.withUnsafeBytes { try dequantize(dtype, bytes: $0, count: count) }
        var mismatches = 0
        for i in 0..<count where got[i].bitPattern != expected[i].bitPattern {
            if mismatches < 5 { XCTFail("\(dtype)[\(i)]: got \(got[i]), gguf says \(expected[i])", file: file, line: line) }
            mismatches += 1
        }
        XCTAssertEqual(mismatches, 0, "\(dtype): \(mismatches) of \(count) values differ", file: file, line: line)
    }

    func testF32() throws { try check(.f32) }
    func testF16() throws { try check(.f16) }
    func testBF16() throws { try check(.bf16) }
    func testQ8_0() throws { try check(.q8_0) }
    func testQ4_0() throws { try check(.q4_0) }
    func testQ4_1() throws { try check(.q4_1) }
    func testQ5_0() throws { try check(.q5_0) }
    func testQ5_1() throws { try check(.q5_1) }
    func testQ4_K() throws { try check(.q4_K) }
    func testQ5_K() throws { try check(.q5_K) }
    func testQ6_K() throws { try check(.q6_K) }

    func testRejectsPartialBlocks() {
        let bytes = [UInt8](repeating: 0, count: 34)
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try dequantize(.q8_0, bytes: $0, count: 16) })
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try dequantize(.q8_0, bytes: $0, count: 64) })
    }
}
