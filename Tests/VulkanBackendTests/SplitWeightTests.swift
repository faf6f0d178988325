import CPUBackend
import Foundation
import LanternCore
@testable import VulkanBackend
import XCTest

/// Weights larger than the device binds in one buffer (lavapipe: 128 MiB) are split by rows: here
/// forced on small weights with a low part limit, on a backend of their own.
final class SplitWeightTests: VulkanTestCase {
    static let split: Result<VulkanBackend, any Error> = Result {
        let b = try VulkanBackend(allowCPU: true, validation: true)
        b.maxWeightPartBytes = 1000
        return b
    }

    func testSplitMatmulEmbedSAEAndRead() throws {
        let vk = try Self.split.get()
        let before = vk.validationMessageCount
        let tokens: [Int32] = [0, 66, 13, 40, 13, 59]
        for dtype in [DType.f32, .q8_0, .q6_K] {
            let (m, k) = (67, dtype == .q6_K ? 256 : 64)
            let owner: AnyObject, host: HostTensor
            if dtype == .f32 {
                let b = HostBytes(Self.random(m * k, seed: 1), dtype: .f32)
                (owner, host) = (b, b.host("w", shape: [m, k], dtype: .f32))
            } else {
                let b = QuantBytes(dtype, rows: m, k: k, seed: 2)
                (owner, host) = (b, b.host("w", shape: [m, k]))
            }
            let wf = try host.floats()
            let w = try vk.weight(host)
            let split = try XCTUnwrap(w.storage as? VulkanSplitStorage, "\(dtype): not split")
            XCTAssertGreaterThan(split.parts.count, 2, "\(dtype)")
            XCTAssertEqual(try vk.read(w), wf, "\(dtype): read back")
            for n in [1, 9] {
                let x = Self.random(n * k, seed: UInt64(n))
                let out = try vk.matmul(try vk.tensor(x, shape: [n, k]), w)
                assertClose(try vk.read(out), Reference.matmul(x, wf, n: n, k: k, m: m), 1e-5, "split matmul \(dtype) n=\(n)")
            }
            let e = try vk.embed(tokens, table: w, scale: 0.5)
            assertClose(try vk.read(e), Reference.embed(tokens, table: wf, width: k, scale: 0.5), 1e-6, "split embed \(dtype)")
            let x = Self.random(3 * k, seed: 4), bias = Self.random(m, seed: 5, scale: 0.2)
            let threshold = Self.random(m, seed: 6, scale: 0.2).map(abs)
            let wEnc = SAETests.transpose(wf, rows: m, cols: k)
            let acts = try vk.saeEncode(try vk.tensor(x, shape: [3, k]), encoder: w, bias: try vk.tensor(bias, shape: [m]),
                                        threshold: try vk.tensor(threshold, shape: [m]), activation: .jumpReLU)
            let want = Reference.saeEncode(x, wEnc: wEnc, bEnc: bias, threshold: threshold, activation: .jumpReLU, dIn: k, dSAE: m)
            assertClose(try vk.read(acts), want, 1e-5, "split saeEncode \(dtype)")
            // Views of rows (a slice of the vocabulary): inside one part, across parts, to the end.
            let perPart = split.rowsPerPart
            for rows in [1..<3, (perPart - 1)..<(perPart + 2), perPart..<(2 * perPart), 3..<m, (m - 2)..<m, 0..<m] {
                let view = try w.rows(rows)
                let viewValues = Array(wf[(rows.lowerBound * k)..<(rows.upperBound * k)])
                let out = try vk.matmul(try vk.tensor(x, shape: [3, k]), view)
                assertClose(try vk.read(out), Reference.matmul(x, viewValues, n: 3, k: k, m: rows.count), 1e-5, "\(dtype) view \(rows)")
                XCTAssertEqual(try vk.read(view), viewValues, "\(dtype) view \(rows) read back")
                let picked: [Int32] = [0, Int32(rows.count - 1)]
                assertClose(try vk.read(try vk.embed(picked, table: view, scale: 1)),
                            Reference.embed(picked, table: viewValues, width: k, scale: 1), 1e-6, "\(dtype) view \(rows) embed")
            }
            withExtendedLifetime(owner) {}
        }
        try vk.synchronize()
        XCTAssertEqual(vk.validationMessageCount, before, "validation: \(vk.validationMessages.suffix(3))")
    }
}
