import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
@testable import Models

/// `blocks.L.attn.hook_result` (each head's output before the sum over heads) against plain loops
/// over transformers' own hook_z (the fixture's reference) and the checkpoint's o_proj weights.
final class HeadResultTests: XCTestCase {
    typealias F = FixtureParityTests

    /// Head h's result is z[:, h] · W_O[:, h]ᵀ; the heads sum to the pre-norm attention branch,
    /// which is hook_attn_out for Llama-style blocks and, through the post-attention norm,
    /// hook_attn_out for Gemma and OLMo 2.
    func checkHeads(_ name: String) throws {
        let f = try F.load(name)
        let c = f.model.config
        let (heads, dh, d) = (c.heads, c.headDim, c.hiddenSize)
        let checkpoint = try Checkpoint(directory: F.fixtures.appendingPathComponent(name).path)
        let tokens = f.sequences[0]
        let n = tokens.count
        let hooks = Hooks(capture: HookFilter(["blocks.*.attn.hook_result", "blocks.*.hook_attn_out"]))
        try f.model.forward(tokens, hooks: hooks, logits: .none)
        for l in 0..<c.layerCount {
            let z = try f.reference.tensor("0:blocks.\(l).attn.hook_z").floats()
            let (wO, bO) = try Self.outputProjection(name, layer: l, checkpoint, c)   // [d, heads·dh], [d]
            let result = try f.model.backend.read(hooks.activation("blocks.\(l).attn.hook_result")!)
            XCTAssertEqual(hooks.activation("blocks.\(l).attn.hook_result")!.shape, [n, heads * d])
            var expected = [Float](repeating: 0, count: n * heads * d), branch = [Float](repeating: 0, count: n * d)
            var summed = [Float](repeating: 0, count: n * d)
            for i in 0..<n {
                for h in 0..<heads {
                    for j in 0..<d {
                        var s: Float = 0
                        for k in 0..<dh { s += z[i * heads * dh + h * dh + k] * wO[j * heads * dh + h * dh + k] }
                        expected[(i * heads + h) * d + j] = s
                        branch[i * d + j] += s
                        summed[i * d + j] += result[(i * heads + h) * d + j]
                    }
                }
            }
            XCTAssertLessThanOrEqual(F.relativeError(result, expected), 1e-5, "\(name) layer \(l): per-head results")
            XCTAssertLessThanOrEqual(F.relativeError(summed, branch), 1e-5, "\(name) layer \(l): heads sum to the branch")
            let attnOut = try f.reference.tensor("0:blocks.\(l).hook_attn_out").floats()
            if let gain = try f.model.postAttentionGain(layer: l) {
                var normed = summed
                for i in 0..<n {
                    let row = summed[(i * d)..<((i + 1) * d)]
                    let scale = 1 / (row.map { $0 * $0 }.reduce(0, +) / Float(d) + c.rmsEps).squareRoot()
                    for j in 0..<d { normed[i * d + j] = summed[i * d + j] * scale * gain[j] }
                }
                XCTAssertLessThanOrEqual(F.relativeError(normed, attnOut), 1e-5, "\(name) layer \(l): post-norm of the sum")
            } else {
                // GPT-2 and GPT-NeoX add the output projection's bias after the sum over heads.
                let withBias = bO.map { b in summed.indices.map { summed[$0] + b[$0 % d] } } ?? summed
                XCTAssertLessThanOrEqual(F.relativeError(withBias, attnOut), 1e-5, "\(name) layer \(l): sum (+ b_O) is hook_attn_out")
            }
        }
    }

    /// Layer l's output projection as [hidden, heads·headDim] (nn.Linear's layout) and its bias:
    /// GPT-2's Conv1D c_proj is stored transposed.
    static func outputProjection(_ name: String, layer l: Int, _ checkpoint: Checkpoint, _ c: ModelConfig) throws -> ([Float], [Float]?) {
        switch c.family {
        case .gpt2:
            let stored = try checkpoint.tensor("transformer.h.\(l).attn.c_proj.weight").floats()  // [heads·dh, d]
            let width = c.heads * c.headDim, d = c.hiddenSize
            return ((0..<(d * width)).map { stored[($0 % width) * d + $0 / width] },
                    try checkpoint.tensor("transformer.h.\(l).attn.c_proj.bias").floats())
        case .gptNeoX:
            return (try checkpoint.tensor("gpt_neox.layers.\(l).attention.dense.weight").floats(),
                    try checkpoint.tensor("gpt_neox.layers.\(l).attention.dense.bias").floats())
        default:
            return (try checkpoint.tensor("model.layers.\(l).self_attn.o_proj.weight").floats(), nil)
        }
    }

    func testGemma2HeadResults() throws { try checkHeads("gemma2_tiny") }
    func testGemma3HeadResults() throws { try checkHeads("gemma3_tiny") }
    func testLlamaHeadResults() throws { try checkHeads("llama_tiny") }
    func testQwen2HeadResults() throws { try checkHeads("qwen2_tiny") }
    func testQwen3HeadResults() throws { try checkHeads("qwen3_tiny") }
    func testMistralHeadResults() throws { try checkHeads("mistral_tiny") }
    func testOLMo2HeadResults() throws { try checkHeads("olmo2_tiny") }
    func testGPT2HeadResults() throws { try checkHeads("gpt2_tiny") }
    func testPythiaHeadResults() throws { try checkHeads("pythia_tiny") }

    /// Capturing hook_result leaves the logits bit for bit; changing it changes the run: zeroing
    /// one head's result is zeroing that head's z slice.
    func testInterveningOnResultFeedsTheForwardPass() throws {
        for name in Fixtures.modelNames {
            let f = try F.load(name)
            let c = f.model.config
            let tokens = f.sequences[1]
            let clean = try f.model.backend.read(f.model.forward(tokens)!)
            let watched = try f.model.backend.read(f.model.forward(tokens, hooks: Hooks(capture: HookFilter(["blocks.*.attn.hook_result"])))!)
            XCTAssertEqual(watched, clean, "\(name): capture only")
            let same = Hooks()
            same.intervene("blocks.1.attn.hook_result") { x, _ in x }
            XCTAssertLessThanOrEqual(F.relativeError(try f.model.backend.read(f.model.forward(tokens, hooks: same)!), clean), 1e-5)

            let head = 1
            let viaResult = Hooks()
            viaResult.intervene("blocks.1.attn.hook_result") { x, ctx in
                var v = try ctx.backend.read(x)
                for i in 0..<x.rowCount { for j in 0..<c.hiddenSize { v[(i * c.heads + head) * c.hiddenSize + j] = 0 } }
                return try ctx.backend.tensor(v, shape: x.shape)
            }
            let viaZ = Hooks()
            viaZ.intervene("blocks.1.attn.hook_z", PatternInterventionTests.zeroingZ(head: head, headDim: c.headDim))
            let a = try f.model.backend.read(f.model.forward(tokens, hooks: viaResult)!)
            let b = try f.model.backend.read(f.model.forward(tokens, hooks: viaZ)!)
            XCTAssertLessThanOrEqual(F.relativeError(a, b), 1e-5, "\(name): zeroed head")
            XCTAssertGreaterThan(F.relativeError(a, clean), 1e-4, "\(name): the ablation changes the logits")
        }
    }
}

private enum Fixtures { static let modelNames = FixtureParityTests.all }
