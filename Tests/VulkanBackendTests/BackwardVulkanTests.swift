import CPUBackend
import Foundation
import LanternCore
import Models
@testable import VulkanBackend
import XCTest

/// The backward ops on Vulkan against the CPU backend's (themselves tested against float64
/// references), then whole gradients of the tiny fixtures against torch autograd's goldens.
final class BackwardVulkanTests: VulkanTestCase {
    func testMatmulBackwardEveryWeightKindDenseAndSparse() throws {
        let n = 5
        for dtype in [DType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K, .q5_K, .q6_K] {
            let (m, k) = (40, dtype.isQuantised ? 256 : 96)
            let owner: AnyObject, host: HostTensor
            if dtype.isQuantised {
                let b = QuantBytes(dtype, rows: m, k: k, seed: 3)
                (owner, host) = (b, b.host("w", shape: [m, k]))
            } else {
                let b = HostBytes(Self.random(m * k, seed: 4), dtype: dtype)
                (owner, host) = (b, b.host("w", shape: [m, k], dtype: dtype))
            }
            let (gw, cw) = (try gpu.weight(host), try cpu.weight(host))
            var sparse = [Float](repeating: 0, count: n * m)
            sparse[2 * m + 7] = 1.5; sparse[4 * m + 33] = -2  // a logit difference's shape: a few columns
            for (what, dy) in [("dense", Self.random(n * m, seed: 5)), ("sparse", sparse)] {
                let got = try gpu.read(try gpu.matmulBackward(try gpu.tensor(dy, shape: [n, m]), gw))
                let want = try cpu.read(try cpu.matmulBackward(try cpu.tensor(dy, shape: [n, m]), cw))
                assertClose(got, want, 1e-5, "matmulBackward \(dtype) \(what)")
            }
            withExtendedLifetime(owner) {}
        }
    }

    func testMatmulBackwardOverAWeightSplitAcrossBuffers() throws {
        let vk = try SplitWeightTests.split.get()
        let (m, k, n) = (67, 64, 3)
        let b = HostBytes(Self.random(m * k, seed: 6), dtype: .f32)
        let host = b.host("w", shape: [m, k], dtype: .f32)
        let w = try vk.weight(host)
        XCTAssertGreaterThan(try XCTUnwrap(w.storage as? VulkanSplitStorage).parts.count, 2)
        let dy = Self.random(n * m, seed: 7)
        assertClose(try vk.read(try vk.matmulBackward(try vk.tensor(dy, shape: [n, m]), w)),
                    try cpu.read(try cpu.matmulBackward(try cpu.tensor(dy, shape: [n, m]), try cpu.weight(host))), 1e-5, "split")
        try vk.synchronize()
    }

    func testRowOpsBackward() throws {
        let (rows, d) = (6, 200)
        let x = Self.random(rows * d, seed: 8), dy = Self.random(rows * d, seed: 9), w = Self.random(d, seed: 10, scale: 0.5)
        for form in [RMSNormForm.gemma, .llama] {
            for frozen in [false, true] {
                let got = try gpu.read(try gpu.rmsNormBackward(try gpu.tensor(x, shape: [rows, d]), weight: try gpu.tensor(w, shape: [d]), eps: 1e-6,
                                                               form: form, gradient: try gpu.tensor(dy, shape: [rows, d]), frozenScale: frozen))
                let want = try cpu.read(try cpu.rmsNormBackward(try cpu.tensor(x, shape: [rows, d]), weight: try cpu.tensor(w, shape: [d]), eps: 1e-6,
                                                                form: form, gradient: try cpu.tensor(dy, shape: [rows, d]), frozenScale: frozen))
                assertClose(got, want, 1e-5, "rmsNormBackward \(form) frozen \(frozen)")
            }
        }
        for pairing in [RopePairing.half, .interleaved] {
            let params = RopeParams(theta: 10_000, pairing: pairing, rotaryDim: 24)
            let g = Self.random(5 * 2 * 32, seed: 11)
            assertClose(try gpu.read(try gpu.ropeBackward(try gpu.tensor(g, shape: [5, 64]), heads: 2, headDim: 32, start: 7, params: params)),
                        try cpu.read(try cpu.ropeBackward(try cpu.tensor(g, shape: [5, 64]), heads: 2, headDim: 32, start: 7, params: params)),
                        1e-6, "ropeBackward \(pairing)")
        }
        let gate = Self.random(300, seed: 12, scale: 3), up = Self.random(300, seed: 13), g = Self.random(300, seed: 14)
        func both(_ f: (any DifferentiableBackend) throws -> [Tensor], _ what: String) throws {
            let (a, b) = (try f(gpu), try f(cpu))
            for (t, u) in zip(a, b) { assertClose(try gpu.read(t), try cpu.read(u), 2e-6, what) }
        }
        try both({ b in let r = try b.gegluTanhBackward(gate: try b.tensor(gate, shape: [300]), up: try b.tensor(up, shape: [300]), gradient: try b.tensor(g, shape: [300])); return [r.dGate, r.dUp] }, "gegluTanhBackward")
        try both({ b in let r = try b.swigluBackward(gate: try b.tensor(gate, shape: [300]), up: try b.tensor(up, shape: [300]), gradient: try b.tensor(g, shape: [300])); return [r.dGate, r.dUp] }, "swigluBackward")
        try both({ b in [try b.softcapBackward(try b.tensor(gate, shape: [300]), cap: 2, gradient: try b.tensor(g, shape: [300]))] }, "softcapBackward")
        for approximation in [GELUApproximation.tanh, .erf] {
            try both({ b in [try b.geluBackward(try b.tensor(gate, shape: [300]), approximation: approximation, gradient: try b.tensor(g, shape: [300]))] },
                     "geluBackward \(approximation)")
        }
        for frozen in [false, true] {
            let got = try gpu.read(try gpu.layerNormBackward(try gpu.tensor(x.map { $0 + 3 }, shape: [rows, d]), weight: try gpu.tensor(w, shape: [d]),
                                                             eps: 1e-5, gradient: try gpu.tensor(dy, shape: [rows, d]), frozenScale: frozen))
            let want = try cpu.read(try cpu.layerNormBackward(try cpu.tensor(x.map { $0 + 3 }, shape: [rows, d]), weight: try cpu.tensor(w, shape: [d]),
                                                              eps: 1e-5, gradient: try cpu.tensor(dy, shape: [rows, d]), frozenScale: frozen))
            assertClose(got, want, 1e-5, "layerNormBackward frozen \(frozen)")
        }
    }

    func testAttentionBackwardWithGQASoftcapWindowAndAnOffset() throws {
        struct Case { let n, keys, start, heads, kv, dim: Int; let softcap: Float?; let window: Int? }
        for c in [Case(n: 7, keys: 7, start: 0, heads: 4, kv: 2, dim: 16, softcap: nil, window: nil),
                  Case(n: 5, keys: 9, start: 4, heads: 2, kv: 1, dim: 32, softcap: 3, window: 4),
                  Case(n: 6, keys: 6, start: 0, heads: 3, kv: 3, dim: 8, softcap: 50, window: nil)] {
            let p = AttentionParams(heads: c.heads, kvHeads: c.kv, headDim: c.dim, scale: 1 / Float(c.dim).squareRoot(),
                                    softcap: c.softcap, window: c.window)
            let q = Self.random(c.n * c.heads * c.dim, seed: 15), k = Self.random(c.keys * c.kv * c.dim, seed: 16)
            let v = Self.random(c.keys * c.kv * c.dim, seed: 17), dz = Self.random(c.n * c.heads * c.dim, seed: 18)
            func run(_ b: any DifferentiableBackend) throws -> [[Float]] {
                let r = try b.attentionBackward(q: try b.tensor(q, shape: [c.n, c.heads * c.dim]), k: try b.tensor(k, shape: [c.keys, c.kv * c.dim]),
                                                v: try b.tensor(v, shape: [c.keys, c.kv * c.dim]), queryStart: c.start, params: p,
                                                gradient: try b.tensor(dz, shape: [c.n, c.heads * c.dim]))
                return [try b.read(r.dq), try b.read(r.dk), try b.read(r.dv)]
            }
            for (name, (got, want)) in zip(["dq", "dk", "dv"], zip(try run(gpu), try run(cpu))) {
                assertClose(got, want, 1e-5, "attentionBackward \(name) n=\(c.n) keys=\(c.keys) softcap \(String(describing: c.softcap))")
            }
        }
    }

    /// Transformer.gradients on Vulkan: every hook's gradient of the logit difference (exact and
    /// frozen) equal to the CPU backend's, which GradientParityTests holds to torch.
    func testModelGradientsEqualTheCPUBackends() throws {
        for name in ["gemma2_tiny", "gemma3_tiny", "llama_tiny", "qwen2_tiny", "olmo2_tiny", "gpt2_tiny", "pythia_tiny"] {
            let dir = ForwardTests.fixtures.appendingPathComponent(name).path
            let (onGPU, onCPU) = (try Transformer(directory: dir, backend: gpu), try Transformer(directory: dir, backend: cpu))
            let tokens: [Int32] = [2, 40, 17, 99, 5, 61, 23]
            let metric = GradientMetric.logitDifference(target: 11, baseline: 30, position: 5)
            for options in [BackwardOptions.exact, .frozen] {
                let (a, b) = (try onGPU.gradients(tokens: tokens, of: metric, hooks: .all, options: options),
                              try onCPU.gradients(tokens: tokens, of: metric, hooks: .all, options: options))
                XCTAssertEqual(a.metric, b.metric, accuracy: 1e-5 * max(1, abs(b.metric)), "\(name) metric")
                XCTAssertEqual(a.points.map(\.name), b.points.map(\.name), name)
                for (x, y) in zip(a.points, b.points) {
                    assertClose(try gpu.read(x.gradient), try cpu.read(y.gradient), 2e-5, "\(name) \(x.name) \(options)")
                }
            }
        }
    }
}
