import CPUBackend
import Foundation
import LanternCore
import Models
import XCTest
@testable import Interpretability
import TestSupport

/// Completeness on the default model (Gemma 3 270M, Q4_K_M GGUF) with random transcoders for all
/// 18 layers: every feature and logit row sums to its input, under both conventions.
/// Skipped with a message when the model is not cached, unless LANTERN_REQUIRE_MODELS is set.
final class RealModelGraphTests: XCTestCase {
    func testGemma3_270MAttributionGraphIsComplete() throws {
        let path = try requireModel("gemma3-270m")
        let model = try Transformer(gguf: path, backend: CPUBackend())
        let transcoders = try AttributionGraphTests.randomTranscoders(for: model, skip: true, seed: 270)
        let replacement = try ReplacementModel(model: model, transcoders: transcoders)
        let tokens: [Int32] = [2, 818, 5279, 529]
        for conventions in [GraphConventions.complete, .circuitTracer] {
            let g = try replacement.graph(tokens: tokens, options: GraphOptions(conventions: conventions))
            let gap = g.worstCompletenessGap()
            print("gemma3-270m \(conventions): \(g.featureCount) features, \(g.logitCount) logits, completeness gap \(gap)")
            XCTAssertLessThan(gap, 1e-4)
        }
    }
}
