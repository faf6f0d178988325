import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
import Models
@testable import Interpretability

/// The lens against the model itself and against transformers' hidden states.
final class LogitLensTests: XCTestCase {
    /// The last layer's lens is the model's own head: identical logits.
    func testLastLayerIsTheModelsLogits() throws {
        for name in Fixtures.allModelNames {
            let model = try Fixtures.model(name)
            let tokens = try Fixtures.sequences(name)[1]
            let hooks = Hooks(capture: HookFilter(["blocks.*.hook_resid_post"]))
            let logits = try model.backend.read(try model.forward(tokens, hooks: hooks)!)
            let last = hooks.activation("blocks.\(model.config.layerCount - 1).hook_resid_post")!
            XCTAssertEqual(try model.backend.read(try LogitLens.logits(model, residual: last)), logits, name)
            let lens = try LogitLens.run(model, tokens: tokens, topK: 3)
            let vocab = model.config.vocabSize
            for p in tokens.indices {
                let row = Array(logits[(p * vocab)..<((p + 1) * vocab)])
                XCTAssertEqual(lens.cells.last![p].top[0].token, Int32(Sampler.argmax(row)), "\(name) position \(p)")
            }
        }
    }

    /// Expected values come from transformers' own residuals (the fixture's hook_embed and
    /// resid_post tensors) read through an obviously-correct host head: Reference.rmsNorm with the
    /// checkpoint's final-norm weight, Reference.matmul with the unembedding, Reference.softcap.
    /// That head is first checked against transformers' ln_final and logits.
    func testLensMatchesTransformersHiddenStates() throws {
        for name in Fixtures.allModelNames {
            let model = try Fixtures.model(name)
            let c = model.config
            let checkpoint = try Checkpoint(directory: Fixtures.path(name))
            // The final norm and unembedding by each family's names (GPT-2's and GPT-NeoX's: LayerNorm).
            let (norm, unembedded) = switch c.family {
            case .gpt2: ("transformer.ln_f", "transformer.wte.weight")
            case .gptNeoX: ("gpt_neox.final_layer_norm", "embed_out.weight")
            default: ("model.norm", checkpoint.has("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight")
            }
            let normWeight = try checkpoint.tensor(norm + ".weight").floats()
            let normBias = c.layerNorm ? try checkpoint.tensor(norm + ".bias").floats() : nil
            let unembedding = try checkpoint.tensor(unembedded).floats()
            let reference = try Fixtures.reference(name)
            func head(_ residual: [Float]) -> (normed: [Float], logits: [Float]) {
                let normed = normBias.map { Reference.layerNorm(residual, weight: normWeight, bias: $0, eps: c.rmsEps) }
                    ?? Reference.rmsNorm(residual, weight: normWeight, eps: c.rmsEps, form: c.normForm)
                var logits = Reference.matmul(normed, unembedding, n: residual.count / c.hiddenSize, k: c.hiddenSize, m: c.vocabSize)
                if let cap = c.finalSoftcap { logits = Reference.softcap(logits, cap: cap) }
                return (normed, logits)
            }
            var worst: Float = 0
            for (s, tokens) in try Fixtures.sequences(name).enumerated() {
                let lastResidual = try reference.tensor("\(s):blocks.\(c.layerCount - 1).hook_resid_post").floats()
                let (normed, logits) = head(lastResidual)
                XCTAssertLessThanOrEqual(Fixtures.relativeError(normed, try reference.tensor("\(s):ln_final.hook_normalized").floats()), 1e-5)
                XCTAssertLessThanOrEqual(Fixtures.relativeError(logits, try reference.tensor("\(s):logits").floats()), 1e-5)

                let hooks = Hooks(capture: HookFilter(LogitLens.residualHooks(c)))
                try model.forward(tokens, hooks: hooks, logits: .none)
                let lens = try LogitLens.run(model, tokens: tokens, topK: 3)
                for (row, hook) in LogitLens.residualHooks(c).enumerated() {
                    let expected = head(try reference.tensor("\(s):\(hook)").floats()).logits
                    let ours = try model.backend.read(try LogitLens.logits(model, residual: hooks.activation(hook)!))
                    let err = Fixtures.relativeError(ours, expected)
                    worst = max(worst, err)
                    XCTAssertLessThanOrEqual(err, 1e-4, "\(name) seq \(s) \(hook)")
                    for p in tokens.indices {
                        let probs = LogitLens.softmax(Array(expected[(p * c.vocabSize)..<((p + 1) * c.vocabSize)]))
                        XCTAssertEqual(lens.cells[row][p].top[0].probability, probs.max()!, accuracy: 1e-4)
                    }
                }
            }
            print("\(name): lens worst relative error vs transformers hidden states \(worst)")
        }
    }

    func testCellStatistics() {
        let cell = LogitLens.cell([0, log(2), log(4), log(1)], topK: 2, target: 0)
        XCTAssertEqual(cell.top.map(\.token), [2, 1])
        XCTAssertEqual(cell.top[0].probability, 0.5, accuracy: 1e-6)
        XCTAssertEqual(cell.targetRank, 3)  // tied with token 3 at 1/8; the lower id ranks first
        XCTAssertEqual(cell.targetProbability!, 0.125, accuracy: 1e-6)
        let expected: Float = -(0.5 * log(0.5) + 0.25 * log(0.25) + 2 * 0.125 * log(0.125))
        XCTAssertEqual(cell.entropy, expected, accuracy: 1e-5)
    }

    func testTargetOutOfRange() throws {
        let model = try Fixtures.model("gemma2_tiny")
        XCTAssertThrowsError(try LogitLens.run(model, tokens: [2, 5], target: 256)) {
            XCTAssertTrue("\($0)".contains("target token 256 is out of range"), "\($0)")
        }
    }
}
