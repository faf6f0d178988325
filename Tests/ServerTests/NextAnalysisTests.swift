import Analyses
import CPUBackend
import Foundation
import Interpretability
import Lantern
import LanternCore
import XCTest

/// The `next` analysis summarises the last logits where they lie (the normaliser and the top
/// tokens, not the vocabulary's logits): its answer is the plain reference's — the double-precision
/// softmax of the whole row, the k largest probabilities — on every tiny family, and the Vulkan
/// backend's answer is the CPU backend's.
final class NextAnalysisTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let families = ["gemma2_tiny", "gemma3_tiny", "llama_tiny"]
    static let prompt: [Int] = [2, 17, 90, 41, 5, 66]

    func answer(_ family: String, _ backend: any Backend, top: Int) throws -> (NextResult, LanternModel) {
        let model = try LanternModel.load(directory: Self.fixtures.appendingPathComponent(family).path, backend: backend)
        let request = NextRequest(prompt: .ids(Self.prompt), top: top)
        return (try request.run(on: AnalysisContext(model: model, byteTokens: true), monitor: AnalysisMonitor()), model)
    }

    func testNextIsTheReferenceSoftmaxsTopTokens() throws {
        for family in Self.families {
            let (got, model) = try answer(family, CPUBackend(), top: 12)
            let logits = try model.backend.read(try XCTUnwrap(try model.transformer.forward(Self.prompt.map(Int32.init), logits: .last)))
            let probs = LogitLens.softmax(logits)
            let order = Ranking.largest(12, of: probs)
            XCTAssertEqual(got.top.map(\.id), order, "\(family): the same tokens in the same order")
            for c in got.top {
                XCTAssertEqual(c.logit, Double(logits[c.id]), "\(family) token \(c.id): its own logit")
                XCTAssertEqual(c.prob, Double(probs[c.id]), accuracy: 1e-6 * Double(probs[c.id]), "\(family) token \(c.id)")
            }
            XCTAssertEqual(got.ids, Self.prompt)
        }
    }

    /// More tokens than the vocabulary holds asks for all of them.
    func testATopPastTheVocabularyListsEveryToken() throws {
        let (got, model) = try answer("gemma2_tiny", CPUBackend(), top: 1_000_000)
        XCTAssertEqual(got.top.count, model.config.vocabSize)
        XCTAssertEqual(got.top.map(\.prob).reduce(0, +), 1, accuracy: 1e-5)
    }

    func testNextOnVulkanIsTheCPUBackends() throws {
        if ProcessInfo.processInfo.environment["LANTERN_SKIP_VULKAN"] == "1" { throw XCTSkip("LANTERN_SKIP_VULKAN=1") }
        for family in Self.families {
            let (gpu, notice) = try Lantern.makeBackend(.vulkan)
            XCTAssertNil(notice, "the Vulkan backend starts (lavapipe in CI)")
            let (want, _) = try answer(family, CPUBackend(), top: 8)
            let (got, _) = try answer(family, gpu, top: 8)
            XCTAssertEqual(got.top.map(\.id), want.top.map(\.id), family)
            for (g, w) in zip(got.top, want.top) {
                XCTAssertEqual(g.logit, w.logit, accuracy: 1e-5 * max(1, abs(w.logit)), "\(family) token \(w.id)")
                XCTAssertEqual(g.prob, w.prob, accuracy: 1e-5 * w.prob, "\(family) token \(w.id)")
            }
        }
    }
}
