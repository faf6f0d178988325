import Foundation
import XCTest
import CPUBackend
import LanternCore
import Models
@testable import Interpretability

/// SAEs and steering on every family's fixture (the lens, patching, gradients and graphs have
/// their own tests over `Fixtures.allModelNames`): an SAE that reconstructs its input exactly,
/// spliced in at a residual hook, leaves every next-token loss as it was; add-mode steering adds
/// strength · W_dec[f] to every row of its hook and changes what follows.
final class FamilyStackTests: XCTestCase {
    /// A ReLU SAE of width 2d with W_enc = [I, −I] and W_dec = [I; −I]: relu(x) − relu(−x) = x.
    func identitySAE(_ model: Transformer, hook: String) throws -> SAE {
        let d = model.config.hiddenSize
        var wEnc = [Float](repeating: 0, count: d * 2 * d), wDec = wEnc
        for i in 0..<d {
            wEnc[i * 2 * d + i] = 1
            wEnc[i * 2 * d + d + i] = -1
            wDec[i * d + i] = 1
            wDec[(d + i) * d + i] = -1
        }
        let config = SAEConfig(dIn: d, dSAE: 2 * d, activation: .relu, applyBDecToInput: false, hookName: hook, layer: 1)
        let weights = SAEWeights(wEnc: wEnc, wDec: wDec, bEnc: [Float](repeating: 0, count: 2 * d),
                                 bDec: [Float](repeating: 0, count: d), threshold: nil)
        return try SAE(config: config, weights: weights, backend: model.backend, source: "identity SAE")
    }

    func testIdentitySAESplicedInChangesNoLoss() throws {
        for name in Fixtures.allModelNames {
            let model = try Fixtures.model(name)
            let sae = try identitySAE(model, hook: "blocks.1.hook_resid_post")
            let tokens = try Fixtures.sequences(name).max { $0.count < $1.count }!
            let metrics = try SAEEvaluator(model: model, sae: sae, includeBOS: true).evaluate(tokens)
            XCTAssertEqual(metrics.count, tokens.count, name)
            for m in metrics {
                XCTAssertGreaterThan(m.explainedVariance, 1 - 1e-6, "\(name) position \(m.position)")
                guard let clean = m.ceClean, let spliced = m.ceSAE, let zero = m.ceZero else { continue }
                XCTAssertEqual(spliced, clean, accuracy: 1e-5 * max(1, abs(clean)), "\(name) position \(m.position)")
                XCTAssertNotEqual(zero, clean, "\(name): zero-ablating the residual changes the loss, so the check can fail")
            }
        }
    }

    func testAddSteeringAddsTheDirectionOnEveryFamily() throws {
        for name in Fixtures.allModelNames {
            let model = try Fixtures.model(name)
            let hook = "blocks.1.hook_resid_post", d = model.config.hiddenSize
            let sae = try identitySAE(model, hook: hook)
            let tokens = try Fixtures.sequences(name)[0]
            let clean = Hooks(capture: HookFilter([hook]))
            try model.forward(tokens, hooks: clean, logits: .none)
            let feature = 3, strength: Float = 2.5
            let steered = try Steering(sae: sae, features: [feature], strength: strength).hooks(for: model, capture: HookFilter([hook]))
            try model.forward(tokens, hooks: steered, logits: .none)
            let x = try model.backend.read(clean.activation(hook)!), y = try model.backend.read(steered.activation(hook)!)
            let direction = try sae.direction(feature)
            for r in 0..<tokens.count {
                for i in 0..<d { XCTAssertEqual(y[r * d + i], x[r * d + i] + strength * direction[i], accuracy: 1e-5, "\(name)") }
            }
            let big = try Steering(sae: sae, features: [feature], strength: 500).compare(model, prompt: tokens, maxNewTokens: 6, stopAtEOS: false)
            XCTAssertNotEqual(big.baseline.tokens, big.steered.tokens, name)
        }
    }
}
