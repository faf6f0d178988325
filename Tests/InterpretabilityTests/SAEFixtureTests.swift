import Foundation
import XCTest
import CPUBackend
@testable import Formats
import LanternCore
import Models
import VulkanBackend
@testable import Interpretability

/// SAE math against numpy (tools/make_sae_fixtures.py) in both formats, on the CPU backend's
/// fused kernels, on the protocol's composed default, and in `Reference`.
final class SAEFixtureTests: XCTestCase {
    static let names = ["gemmascope/layer_1/width_96", "gemmascope_stored/layer_2", "saelens_relu_bdec",
                        "saelens_relu_nobdec", "saelens_topk", "saelens_jumprelu"]

    func load(_ name: String, backend: any Backend = CPUBackend()) throws -> SAE {
        try SAE.load(path: Fixtures.path("sae/\(name)"), backend: backend)
    }

    func testConfigsAreRead() throws {
        let scope = try load("gemmascope/layer_1/width_96")
        XCTAssertEqual(scope.config, SAEConfig(dIn: 64, dSAE: 96, activation: .jumpReLU, applyBDecToInput: false,
                                               hookName: "blocks.1.hook_resid_post", layer: 1))
        XCTAssertEqual(try load("gemmascope_stored/layer_2").hookName, "blocks.2.hook_resid_post")
        XCTAssertTrue(try load("saelens_relu_bdec").config.applyBDecToInput)
        XCTAssertFalse(try load("saelens_relu_nobdec").config.applyBDecToInput)
        XCTAssertEqual(try load("saelens_topk").config.activation, .topK(8))
        XCTAssertEqual(try load("saelens_jumprelu").config.activation, .jumpReLU)
        XCTAssertEqual(try SAE.load(path: Fixtures.path("sae/saelens_topk"), backend: CPUBackend(), hook: "blocks.0.hook_mlp_out").hookName,
                       "blocks.0.hook_mlp_out")
    }

    func check(backend: any Backend, label: String) throws {
        let expected = try SafetensorsFile(path: Fixtures.path("sae/expected.safetensors"))
        let input = try expected.tensor("input")
        var worst: Float = 0
        for name in Self.names {
            let sae = try load(name, backend: backend)
            let x = try backend.tensor(try input.floats(), shape: input.shape)
            let acts = try sae.encode(x), recon = try sae.decode(acts)
            let actsError = Fixtures.relativeError(try backend.read(acts), try expected.tensor("\(name):acts").floats())
            let reconError = Fixtures.relativeError(try backend.read(recon), try expected.tensor("\(name):reconstruction").floats())
            XCTAssertLessThanOrEqual(actsError, 1e-5, "\(label) \(name) acts")
            XCTAssertLessThanOrEqual(reconError, 1e-5, "\(label) \(name) reconstruction")
            worst = max(worst, actsError, reconError)
        }
        print("SAE \(label): worst relative error vs numpy \(worst)")
    }

    func testCPUKernelsMatchNumpy() throws { try check(backend: CPUBackend(), label: "cpu") }

    /// A backend without its own SAE ops gets the protocol's composed default.
    func testComposedDefaultMatchesNumpy() throws { try check(backend: ForwardingBackend(), label: "default") }

    /// The Vulkan backend's SAE ops (lavapipe where there is no GPU). As in VulkanBackendTests, no
    /// Vulkan device is a failure unless LANTERN_SKIP_VULKAN=1 is set.
    func testVulkanMatchesNumpy() throws {
        if ProcessInfo.processInfo.environment["LANTERN_SKIP_VULKAN"] == "1" { throw XCTSkip("LANTERN_SKIP_VULKAN=1") }
        let vulkan: VulkanBackend
        do {
            vulkan = try VulkanBackend(allowCPU: true)
        } catch {
            XCTFail("no usable Vulkan device (install mesa-vulkan-drivers, or set LANTERN_SKIP_VULKAN=1): \(error)")
            return
        }
        try check(backend: vulkan, label: "vulkan (\(vulkan.name))")
    }

    func testReferenceMatchesNumpy() throws {
        let expected = try SafetensorsFile(path: Fixtures.path("sae/expected.safetensors"))
        let x = try expected.tensor("input").floats()
        let scope = try NPZArchive(path: Fixtures.path("sae/gemmascope/layer_1/width_96/params.npz"))
        let acts = Reference.saeEncode(x, wEnc: try scope.array("W_enc").values, bEnc: try scope.array("b_enc").values,
                                       threshold: try scope.array("threshold").values, activation: .jumpReLU, dIn: 64, dSAE: 96)
        XCTAssertLessThanOrEqual(Fixtures.relativeError(acts, try expected.tensor("gemmascope/layer_1/width_96:acts").floats()), 1e-5)
        let recon = Reference.saeDecode(acts, wDec: try scope.array("W_dec").values, bDec: try scope.array("b_dec").values, dIn: 64, dSAE: 96)
        XCTAssertLessThanOrEqual(Fixtures.relativeError(recon, try expected.tensor("gemmascope/layer_1/width_96:reconstruction").floats()), 1e-5)
    }

    /// L0, cosine and ‖x − x̂‖/‖x‖ per token, and explained variance, against numpy.
    func testMetricsMatchNumpy() throws {
        let expected = try SafetensorsFile(path: Fixtures.path("sae/expected.safetensors"))
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("sae/expected.json")))) as! [String: [String: Any]]
        let input = try expected.tensor("input")
        for name in Self.names {
            let sae = try load(name)
            let b = sae.backend
            let x = try b.tensor(try input.floats(), shape: input.shape)
            let acts = try sae.encode(x)
            let run = SAERun(tokens: Array(repeating: 0, count: input.shape[0]), input: try input.floats(), acts: try b.read(acts),
                             reconstruction: try b.read(try sae.decode(acts)), dIn: 64, dSAE: 96)
            let m = meta[name]!
            let features = run.features(top: 5)
            XCTAssertEqual(features.map(\.l0), m["l0"] as! [Int], name)
            for (p, f) in features.enumerated() {
                XCTAssertEqual(Double(f.relativeError), (m["relative_error"] as! [Double])[p], accuracy: 1e-5 * 10)
                let cos = SAEMath.cosine(run.row(run.input, p, width: 64), run.row(run.reconstruction, p, width: 64))
                XCTAssertEqual(cos, (m["cosine"] as! [Double])[p], accuracy: 1e-5)
            }
            var stats = ReconstructionStats(width: 64)
            for p in 0..<input.shape[0] { stats.add(run.row(run.input, p, width: 64), run.row(run.reconstruction, p, width: 64)) }
            let ev = m["explained_variance"] as! Double
            XCTAssertEqual(stats.explainedVariance, ev, accuracy: 1e-5 * abs(ev))
        }
    }
}

/// Every Backend requirement forwarded to the CPU backend except the SAE ops, which therefore
/// come from the protocol extension (what a backend without SAE kernels gets).
final class ForwardingBackend: Backend, @unchecked Sendable {
    let cpu = CPUBackend()
    var name: String { "forwarding" }
    func tensor(_ values: [Float], shape: [Int]) throws -> Tensor { try cpu.tensor(values, shape: shape) }
    func weight(_ host: HostTensor) throws -> Tensor { try cpu.weight(host) }
    func zeros(shape: [Int]) throws -> Tensor { try cpu.zeros(shape: shape) }
    func read(_ tensor: Tensor) throws -> [Float] { try cpu.read(tensor) }
    func copyRows(_ source: Tensor, into destination: Tensor, at row: Int) throws { try cpu.copyRows(source, into: destination, at: row) }
    func embed(_ tokens: [Int32], table: Tensor, scale: Float) throws -> Tensor { try cpu.embed(tokens, table: table, scale: scale) }
    func matmul(_ x: Tensor, _ w: Tensor) throws -> Tensor { try cpu.matmul(x, w) }
    func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float, form: RMSNormForm) throws -> Tensor {
        try cpu.rmsNorm(x, weight: weight, eps: eps, form: form)
    }
    func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) throws -> Tensor {
        try cpu.layerNorm(x, weight: weight, bias: bias, eps: eps)
    }
    func rope(_ x: Tensor, heads: Int, headDim: Int, start: Int, params: RopeParams) throws -> Tensor {
        try cpu.rope(x, heads: heads, headDim: headDim, start: start, params: params)
    }
    func attention(q: Tensor, k: Tensor, v: Tensor, queryStart: Int, keyCount: Int, params: AttentionParams,
                   wantPattern: Bool) throws -> (out: Tensor, pattern: Tensor?) {
        try cpu.attention(q: q, k: k, v: v, queryStart: queryStart, keyCount: keyCount, params: params, wantPattern: wantPattern)
    }
    func gegluTanh(gate: Tensor, up: Tensor) throws -> Tensor { try cpu.gegluTanh(gate: gate, up: up) }
    func swiglu(gate: Tensor, up: Tensor) throws -> Tensor { try cpu.swiglu(gate: gate, up: up) }
    func gelu(_ x: Tensor, approximation: GELUApproximation) throws -> Tensor { try cpu.gelu(x, approximation: approximation) }
    func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try cpu.add(a, b) }
    func scale(_ x: Tensor, by s: Float) throws -> Tensor { try cpu.scale(x, by: s) }
    func softcap(_ x: Tensor, cap: Float) throws -> Tensor { try cpu.softcap(x, cap: cap) }
}
