import CPUBackend
import Formats
import Foundation
import LanternCore
@testable import Models
import XCTest

/// Transformer.gradients against torch autograd on the tiny fixture models (goldens made by
/// tools/make_gradient_goldens.py) and against finite differences of the model's own forward pass.
final class GradientParityTests: XCTestCase {
    static let goldens = FixtureParityTests.fixtures.appendingPathComponent("gradients")

    struct Golden {
        let tokens: [Int32]
        let metrics: [String: (position: Int, target: Int32, baseline: Int32, value: Float)]
        let gradients: SafetensorsFile
    }

    static func golden(_ name: String) throws -> Golden {
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens.appendingPathComponent("\(name).json"))) as! [String: Any]
        var metrics: [String: (Int, Int32, Int32, Float)] = [:]
        for (key, value) in meta["metrics"] as! [String: [String: Any]] {
            metrics[key] = (value["position"] as! Int, Int32(value["target"] as! Int), Int32(value["baseline"] as! Int),
                            Float(value["value"] as! Double))
        }
        return Golden(tokens: (meta["tokens"] as! [Int]).map(Int32.init), metrics: metrics,
                      gradients: try SafetensorsFile(path: goldens.appendingPathComponent("\(name).safetensors").path))
    }

    static func model(_ name: String) throws -> Transformer {
        try Transformer(directory: FixtureParityTests.fixtures.appendingPathComponent(name).path, backend: CPUBackend())
    }

    /// ‖a − b‖ / ‖b‖ in double.
    static func relative(_ a: [Float], _ b: [Float]) -> Double {
        var diff = 0.0, norm = 0.0
        for (x, y) in zip(a, b) { diff += Double(x - y) * Double(x - y); norm += Double(y) * Double(y) }
        return (diff / max(norm, 1e-300)).squareRoot()
    }

    func checkAgainstTorch(_ name: String) throws {
        let model = try Self.model(name), golden = try Self.golden(name)
        let expectedHooks = HookNames.all(model.config).filter { !HookNames.hasNoGradient($0) }
        for (metricName, m) in golden.metrics.sorted(by: { $0.key < $1.key }) {
            // "frozen": circuit tracing's linear system (attention patterns and norm scales held fixed).
            let result = try model.gradients(tokens: golden.tokens, of: .logitDifference(target: m.target, baseline: m.baseline, position: m.position),
                                             hooks: .all, options: metricName == "frozen" ? .frozen : .exact)
            XCTAssertEqual(Double(result.metric), Double(m.value), accuracy: 1e-4 * max(1, abs(Double(m.value))), "\(name) \(metricName) value")
            XCTAssertEqual(result.points.map(\.name), expectedHooks, "\(name): every parameterless hook point, in forward order")
            var worst: (Double, String) = (0, "")
            for point in result.points {
                if point.name.hasSuffix("attn.hook_result") {
                    // torch has no per-head outputs: each head's gradient is the branch's, before
                    // Gemma's post-attention norm — for Llama exactly hook_attn_out's.
                    try checkHeadResultGradient(point, result: result, model: model, name: "\(name) \(metricName)")
                    continue
                }
                guard golden.gradients.has("\(metricName):\(point.name)") else {
                    // torch left out hooks that get no gradient (q and k under frozen patterns).
                    XCTAssertEqual(metricName, "frozen", "\(name) \(metricName) \(point.name) missing from the goldens")
                    XCTAssert(try model.backend.read(point.gradient).allSatisfy { $0 == 0 }, "\(name) frozen \(point.name) must be zero")
                    continue
                }
                let want = try golden.gradients.tensor("\(metricName):\(point.name)")
                XCTAssertEqual(point.gradient.shape, want.shape, "\(name) \(metricName) \(point.name)")
                let got = try model.backend.read(point.gradient), expected = try want.floats()
                let err = Self.relative(got, expected)
                if err > worst.0 { worst = (err, point.name) }
                XCTAssertLessThanOrEqual(err, 1e-4, "\(name) \(metricName) \(point.name): relative error \(err)")
                if metricName == "mid" {
                    // Rows after the metric's position cannot affect it (causal): exactly zero, as in torch.
                    let width = point.gradient.width
                    XCTAssert(got[((m.position + 1) * width)...].allSatisfy { $0 == 0 }, "\(name) \(point.name): gradient after position \(m.position)")
                }
            }
            print("\(name) \(metricName): worst relative error against torch \(worst.0) at \(worst.1)")
        }
    }

    func testGemma2GradientsMatchTorch() throws { try checkAgainstTorch("gemma2_tiny") }
    func testGemma3GradientsMatchTorch() throws { try checkAgainstTorch("gemma3_tiny") }
    func testLlamaGradientsMatchTorch() throws { try checkAgainstTorch("llama_tiny") }
    func testQwen2GradientsMatchTorch() throws { try checkAgainstTorch("qwen2_tiny") }
    func testQwen3GradientsMatchTorch() throws { try checkAgainstTorch("qwen3_tiny") }
    func testMistralGradientsMatchTorch() throws { try checkAgainstTorch("mistral_tiny") }
    func testOLMo2GradientsMatchTorch() throws { try checkAgainstTorch("olmo2_tiny") }
    func testGPT2GradientsMatchTorch() throws { try checkAgainstTorch("gpt2_tiny") }
    func testPythiaGradientsMatchTorch() throws { try checkAgainstTorch("pythia_tiny") }

    /// ⟨gradient, u⟩ against (metric(a + εu) − metric(a − εu)) / 2ε, the activation moved by an
    /// intervention at the hook, for random directions u scaled to the activation's norm.
    func testModelGradientsMatchFiniteDifferences() throws {
        let cases = [("gemma2_tiny", ["hook_embed", "blocks.1.attn.hook_rot_k", "blocks.2.mlp.hook_pre", "blocks.3.hook_resid_mid"]),
                     ("gemma3_tiny", ["blocks.0.attn.hook_q", "blocks.5.attn.hook_v", "blocks.4.ln2.hook_normalized", "ln_final.hook_normalized"]),
                     ("llama_tiny", ["blocks.0.hook_resid_pre", "blocks.1.attn.hook_z", "blocks.2.mlp.hook_post"]),
                     ("qwen3_tiny", ["blocks.1.attn.hook_q_normed", "blocks.2.attn.hook_k"]),
                     ("olmo2_tiny", ["blocks.0.hook_resid_pre", "blocks.1.attn.hook_k_normed", "blocks.2.mlp.hook_pre"]),
                     ("gpt2_tiny", ["blocks.0.hook_resid_mid", "blocks.1.attn.hook_v", "blocks.1.ln2.hook_normalized", "blocks.2.mlp.hook_pre"]),
                     ("pythia_tiny", ["blocks.1.hook_resid_pre", "blocks.1.attn.hook_rot_k", "blocks.2.mlp.hook_pre", "ln_final.hook_normalized"])]
        var random = BackwardModelTestRNG(seed: 11)
        for (name, hooks) in cases {
            let model = try Self.model(name), golden = try Self.golden(name)
            let m = golden.metrics["last"]!
            let metric = GradientMetric.logitDifference(target: m.target, baseline: m.baseline)
            let result = try model.gradients(tokens: golden.tokens, of: metric, hooks: HookFilter(hooks))
            for hook in hooks {
                let a = try model.backend.read(result.activation(hook)!), g = try model.backend.read(result.gradient(hook)!)
                var u = a.map { _ in random.uniform() }
                let scale = (a.reduce(0) { $0 + $1 * $1 } / u.reduce(0) { $0 + $1 * $1 }).squareRoot()
                u = u.map { $0 * scale }
                let eps: Float = 1e-2
                func metricMoved(_ sign: Float) throws -> Double {
                    let shift = try model.backend.tensor(u.map { $0 * sign * eps }, shape: result.activation(hook)!.shape)
                    return Double(try model.gradients(tokens: golden.tokens, of: metric, hooks: .none,
                                                      interventions: [(hook, { x, c in try c.backend.add(x, shift) })]).metric)
                }
                let numeric = (try metricMoved(1) - metricMoved(-1)) / (2 * Double(eps))
                let analytic = zip(g, u).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let err = abs(numeric - analytic) / max(abs(analytic), 1e-3)
                print("\(name) \(hook): directional derivative \(analytic), finite difference \(numeric), relative \(err)")
                XCTAssertLessThanOrEqual(err, 3e-3, "\(name) \(hook): ⟨g, u⟩ = \(analytic), finite difference \(numeric)")
            }
        }
    }

    /// A seed at ln_final equal to the metric's own gradient there reproduces every upstream
    /// gradient; with neither seed nor logit gradient everything is zero.
    func testSeedsStartTheWalkInsideTheModel() throws {
        let model = try Self.model("gemma3_tiny"), golden = try Self.golden("gemma3_tiny")
        let m = golden.metrics["last"]!
        let record = try model.recordForward(golden.tokens)
        let full = try model.backward(record, metric: .logitDifference(target: m.target, baseline: m.baseline), hooks: .all).points
        let atNorm = full.first { $0.name == HookNames.finalNorm }!.gradient
        let seeded = try model.backward(record, logitGradient: nil, seeds: [HookNames.finalNorm: atNorm], hooks: .all)
        XCTAssertEqual(seeded.map(\.name), full.map(\.name))
        for (a, b) in zip(seeded, full) {
            XCTAssertLessThanOrEqual(Self.relative(try model.backend.read(a.gradient), try model.backend.read(b.gradient)), 1e-6, a.name)
        }
        let none = try model.backward(record, logitGradient: nil, seeds: [:], hooks: HookFilter(["blocks.2.*"]))
        XCTAssertFalse(none.isEmpty)
        for p in none { XCTAssert(try model.backend.read(p.gradient).allSatisfy { $0 == 0 }, p.name) }
    }

    /// An arbitrary logit gradient: a one-hot pair equals the logit difference.
    func testLogitGradientMetricMatchesLogitDifference() throws {
        let model = try Self.model("llama_tiny"), golden = try Self.golden("llama_tiny")
        let m = golden.metrics["last"]!, n = golden.tokens.count, vocab = model.config.vocabSize
        var dLogits = [Float](repeating: 0, count: n * vocab)
        dLogits[(n - 1) * vocab + Int(m.target)] = 1
        dLogits[(n - 1) * vocab + Int(m.baseline)] = -1
        let hooks = HookFilter(["blocks.0.*"])
        let a = try model.gradients(tokens: golden.tokens, of: .logitGradient(dLogits), hooks: hooks)
        let b = try model.gradients(tokens: golden.tokens, of: .logitDifference(target: m.target, baseline: m.baseline), hooks: hooks)
        XCTAssertEqual(a.metric, b.metric, accuracy: 1e-6)
        for (x, y) in zip(a.points, b.points) { XCTAssertEqual(try model.backend.read(x.gradient), try model.backend.read(y.gradient), x.name) }
    }

    func testBadMetricsAreRefusedClearly() throws {
        let model = try Self.model("llama_tiny")
        let tokens: [Int32] = [1, 5, 9]
        func message(_ metric: GradientMetric) -> String {
            do { _ = try model.gradients(tokens: tokens, of: metric, hooks: .none); return "no error" } catch { return "\(error)" }
        }
        XCTAssert(message(.logitDifference(target: 999, baseline: 1)).contains("target token id 999"))
        XCTAssert(message(.logitDifference(target: 1, baseline: -2)).contains("baseline token id -2"))
        XCTAssert(message(.logitDifference(target: 1, baseline: 2, position: 3)).contains("position 3"))
        XCTAssert(message(.logitGradient([1, 2])).contains("got 2"))
    }
    /// Every head's slice of hook_result's gradient is the same row; for a model without a
    /// post-attention norm it equals hook_attn_out's gradient.
    func checkHeadResultGradient(_ point: HookGradient, result: GradientResult, model: Transformer, name: String) throws {
        let c = model.config, d = c.hiddenSize
        let g = try model.backend.read(point.gradient)
        let layer = point.name.split(separator: ".")[1]
        let attnOut = try model.backend.read(XCTUnwrap(result.gradient("blocks.\(layer).hook_attn_out")))
        for r in 0..<(g.count / (c.heads * d)) {
            for h in 1..<c.heads {
                for j in 0..<d { XCTAssertEqual(g[(r * c.heads + h) * d + j], g[r * c.heads * d + j], "\(name) \(point.name)") }
            }
            if !c.postNorms {
                for j in 0..<d { XCTAssertEqual(g[r * c.heads * d + j], attnOut[r * d + j], accuracy: 1e-6, "\(name) \(point.name)") }
            }
        }
    }
}

/// SplitMix64 for reproducible directions.
struct BackwardModelTestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func uniform() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24) * 2 - 1
    }
}
