import CPUBackend
@testable import Formats
import Foundation
import LanternCore
@testable import Interpretability
import Models
import XCTest

/// GPT-2 small's residual SAEs are SAELens folders in the old form (tools/make_gpt2_sae_fixture.py
/// writes a tiny one for gpt2_tiny exactly so): loaded as they are, on the model's own
/// blocks.1.hook_resid_pre, their features equal numpy's on transformers' activations; with
/// SAELens's `center_writing_weights` the input is the centred stream TransformerLens trained on.
final class GPT2SAETests: XCTestCase {
    func run(_ folder: String) throws -> (sae: SAE, acts: [Float]) {
        let model = try Fixtures.model("gpt2_tiny")
        let sae = try SAE.load(path: Fixtures.path("sae/\(folder)/blocks.1.hook_resid_pre"), backend: model.backend)
        try sae.check(against: model.config)
        let tokens = try Fixtures.sequences("gpt2_tiny")[1]
        let hooks = Hooks(capture: HookFilter([sae.hookName]))
        try model.forward(tokens, hooks: hooks, logits: .none)
        return (sae, try model.backend.read(try sae.encode(try XCTUnwrap(hooks.activation(sae.hookName)))))
    }

    func testHubFolderLoadsAsItIs() throws {
        let (sae, acts) = try run("gpt2_tiny_res")
        // hook_point and hook_point_layer, and SAELens's defaults for what the file leaves out.
        XCTAssertEqual(sae.config, SAEConfig(dIn: 32, dSAE: 48, activation: .relu, applyBDecToInput: true,
                                             hookName: "blocks.1.hook_resid_pre", layer: 1))
        let golden = try SafetensorsFile(path: Fixtures.path("sae/gpt2_tiny_res.safetensors"))
        XCTAssertLessThanOrEqual(Fixtures.relativeError(acts, try golden.tensor("acts").floats()), 1e-4)
        let recon = try sae.backend.read(try sae.decode(try sae.backend.tensor(acts, shape: [acts.count / 48, 48])))
        XCTAssertLessThanOrEqual(Fixtures.relativeError(recon, try golden.tensor("reconstruction").floats()), 1e-4)
    }

    func testCentredWritingWeights() throws {
        let (sae, acts) = try run("gpt2_tiny_res_centred")
        XCTAssertTrue(sae.config.centersInput)
        let golden = try SafetensorsFile(path: Fixtures.path("sae/gpt2_tiny_res.safetensors"))
        let centred = try golden.tensor("acts_centred").floats()
        XCTAssertLessThanOrEqual(Fixtures.relativeError(acts, centred), 1e-4)
        XCTAssertGreaterThan(Fixtures.relativeError(try golden.tensor("acts").floats(), centred), 1e-3, "the centring matters")
        // An RMSNorm model's residual stream is not centred in TransformerLens: refused in one line.
        XCTAssertThrowsError(try sae.check(against: try Fixtures.model("mistral_tiny").config)) {
            XCTAssertTrue("\($0)".contains("center_writing_weights"), "\($0)")
        }
    }
}
