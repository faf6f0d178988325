import CPUBackend
import Foundation
import LanternCore
import VulkanBackend
import XCTest

/// The fused SAE encoder (sae_encode.comp) and the decoder (matmul + add) against `Reference`
/// within 1e-5 relative. `Reference` takes W_enc as [d_in, d_sae] and W_dec as [d_sae, d_in]; the
/// backend, as the Backend protocol, [d_sae, d_in] and [d_in, d_sae].
final class SAETests: VulkanTestCase {
    static func transpose(_ a: [Float], rows: Int, cols: Int) -> [Float] {
        (0..<(rows * cols)).map { a[($0 % rows) * cols + $0 / rows] }
    }

    func testEncodeEveryActivation() throws {
        let dIn = 37
        for (n, dSAE) in [(1, 67), (3, 130), (9, 67), (17, 5)] {
            let x = Self.random(n * dIn, seed: UInt64(n)), enc = Self.random(dSAE * dIn, seed: UInt64(dSAE))
            let bias = Self.random(dSAE, seed: 7, scale: 0.5)
            let threshold = Self.random(dSAE, seed: 8, scale: 0.5).map(abs)
            let wEnc = Self.transpose(enc, rows: dSAE, cols: dIn)
            for activation in [SAEActivation.relu, .jumpReLU, .topK(4)] {
                let t = activation == .jumpReLU ? threshold : nil
                let expected = Reference.saeEncode(x, wEnc: wEnc, bEnc: bias, threshold: t, activation: activation, dIn: dIn, dSAE: dSAE)
                for backend in [gpu!, staging!] {
                    let out = try backend.saeEncode(try backend.tensor(x, shape: [n, dIn]), encoder: try backend.tensor(enc, shape: [dSAE, dIn]),
                                                    bias: try backend.tensor(bias, shape: [dSAE]),
                                                    threshold: try t.map { try backend.tensor($0, shape: [dSAE]) }, activation: activation)
                    XCTAssertEqual(out.shape, [n, dSAE])
                    let got = try backend.read(out)
                    assertClose(got, expected, 1e-5, "saeEncode \(activation) n=\(n) d_sae=\(dSAE)")
                    XCTAssertEqual(got.map { $0 == 0 }, expected.map { $0 == 0 }, "saeEncode \(activation) n=\(n): same active features")
                }
            }
        }
    }

    /// TopK selects on the device (sae_topk.comp) exactly the entries the host's ranking keeps,
    /// ties included: with an identity encoder the pre-activations are the rows themselves, so rows
    /// full of repeated values, signed zeros and too few positives test the tie rules bit for bit.
    func testTopKKeepsTheHostsEntriesThroughTies() throws {
        for width in [37, 300, 1030] {
            let identity = (0..<(width * width)).map { Float($0 / width == $0 % width ? 1 : 0) }
            var state: UInt64 = UInt64(width)
            func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
            let palettes: [[Float]] = [[0.5, 1, 2, -1, 0], [1.5], [-2, -1, -0.0, 0], [-0.0, 0, 3], [0.25, 0.75, -0.5, 4, 4, 1e-30]]
            var rows: [Float] = []
            for palette in palettes { rows += (0..<width).map { _ in palette[next() % palette.count] } }
            rows += Self.random(width, seed: UInt64(width) + 1)
            let n = rows.count / width
            for k in [1, 3, 10, width - 1, width] {
                let activation = SAEActivation.topK(k)
                var expected = rows
                expected.withUnsafeMutableBufferPointer { all in
                    for r in 0..<n { activation.apply(UnsafeMutableBufferPointer(rebasing: all[(r * width)..<((r + 1) * width)]), threshold: nil) }
                }
                let out = try gpu.saeEncode(try gpu.tensor(rows, shape: [n, width]), encoder: try gpu.tensor(identity, shape: [width, width]),
                                            bias: try gpu.zeros(shape: [width]), threshold: nil, activation: activation)
                let got = try gpu.read(out)
                let differing = zip(got, expected).filter { $0 != $1 }.count
                XCTAssertTrue(got == expected, "topK k=\(k) width=\(width): \(differing) of \(got.count) entries differ from the host's")
            }
        }
    }

    func testEncodeQuantisedAndHalfEncoders() throws {
        let (n, dIn, dSAE) = (3, 64, 67)
        let x = Self.random(n * dIn, seed: 1), bias = Self.random(dSAE, seed: 2, scale: 0.1)
        let q = QuantBytes(.q8_0, rows: dSAE, k: dIn, seed: 3), h = HostBytes(Self.random(dSAE * dIn, seed: 4), dtype: .bf16)
        for host in [q.host("enc", shape: [dSAE, dIn]), h.host("enc", shape: [dSAE, dIn], dtype: .bf16)] {
            let wEnc = Self.transpose(try host.floats(), rows: dSAE, cols: dIn)
            let expected = Reference.saeEncode(x, wEnc: wEnc, bEnc: bias, threshold: nil, activation: .relu, dIn: dIn, dSAE: dSAE)
            let out = try gpu.saeEncode(try gpu.tensor(x, shape: [n, dIn]), encoder: try gpu.weight(host),
                                        bias: try gpu.tensor(bias, shape: [dSAE]), threshold: nil, activation: .relu)
            assertClose(try gpu.read(out), expected, 1e-5, "saeEncode \(host.dtype) encoder")
        }
    }

    func testDecode() throws {
        let (dIn, dSAE) = (37, 130)
        for n in [1, 9] {
            let acts = Self.random(n * dSAE, seed: UInt64(n)).map { max($0, 0) }
            let dec = Self.random(dIn * dSAE, seed: 5), bias = Self.random(dIn, seed: 6)
            let wDec = Self.transpose(dec, rows: dIn, cols: dSAE)
            let expected = Reference.saeDecode(acts, wDec: wDec, bDec: bias, dIn: dIn, dSAE: dSAE)
            let out = try gpu.saeDecode(try gpu.tensor(acts, shape: [n, dSAE]), decoder: try gpu.tensor(dec, shape: [dIn, dSAE]),
                                        bias: try gpu.tensor(bias, shape: [dIn]))
            assertClose(try gpu.read(out), expected, 1e-5, "saeDecode n=\(n)")
        }
    }

    func testEncodeRejectsBadShapes() throws {
        let x = try gpu.tensor(Self.random(8, seed: 1), shape: [2, 4])
        XCTAssertThrowsError(try gpu.saeEncode(x, encoder: try gpu.tensor(Self.random(12, seed: 2), shape: [4, 3]),
                                               bias: try gpu.tensor([0, 0, 0, 0], shape: [4]), threshold: nil, activation: .relu))
        XCTAssertThrowsError(try gpu.saeEncode(x, encoder: try gpu.tensor(Self.random(12, seed: 2), shape: [3, 4]),
                                               bias: try gpu.tensor([0, 0, 0], shape: [3]), threshold: nil, activation: .jumpReLU))
    }
}
