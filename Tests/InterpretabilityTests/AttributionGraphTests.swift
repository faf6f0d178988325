import XCTest
import CPUBackend
import LanternCore
import Models
@testable import Interpretability

/// Attribution graphs on the tiny fixtures with random transcoders: completeness of every row
/// (the frozen system is linear, so a target's incoming edges must add up to its input), under
/// Lantern's and circuit-tracer's conventions, with and without affine skips; the skip-only
/// backward; circuit-tracer's logit selection.
final class AttributionGraphTests: XCTestCase {
    /// Random transcoders, one per layer (TopK k=4 of 24 features, so every position has features).
    static func randomTranscoders(for model: Transformer, skip: Bool, seed: UInt64) throws -> [Transcoder] {
        var rng = SeededGenerator(seed: seed)
        let d = model.config.hiddenSize, width = 24
        func values(_ count: Int, _ scale: Float) -> [Float] { (0..<count).map { _ in Float.random(in: -scale...scale, using: &rng) } }
        return try (0..<model.config.layerCount).map { l in
            let config = TranscoderConfig(dIn: d, dSAE: width, dOut: d, activation: .topK(4),
                                          inputHook: MLPTranscoderHooks.input(l, of: model.config), outputHook: "blocks.\(l).hook_mlp_out")
            let weights = TranscoderWeights(wEnc: values(d * width, 0.3), wDec: values(width * d, 0.3), bEnc: values(width, 0.2),
                                            bDec: values(d, 0.5), threshold: nil, skip: skip ? values(d * d, 0.2) : nil)
            return try Transcoder(config: config, weights: weights, backend: model.backend, source: "random transcoder \(l)")
        }
    }

    func graph(_ name: String, skip: Bool, conventions: GraphConventions) throws -> AttributionGraph {
        let model = try Fixtures.model(name)
        let replacement = try ReplacementModel(model: model, transcoders: try Self.randomTranscoders(for: model, skip: skip, seed: 11))
        let tokens = try Fixtures.sequences(name).max { $0.count < $1.count }!
        return try replacement.graph(tokens: tokens, options: GraphOptions(conventions: conventions))
    }

    /// `--batch-size` changes how many targets share a backward walk, so only the order of float32
    /// sums: the edges agree to summation noise and pruning keeps the same nodes and edges.
    func testBatchSizeMovesEdgesOnlyBySummationOrder() throws {
        let model = try Fixtures.model("gemma3_tiny")
        let replacement = try ReplacementModel(model: model, transcoders: try Self.randomTranscoders(for: model, skip: true, seed: 11))
        let tokens = try Fixtures.sequences("gemma3_tiny").max { $0.count < $1.count }!
        let graphs = try [1, 7, 64].map { try replacement.graph(tokens: tokens, options: GraphOptions(batchSize: $0)) }
        let scale = graphs[0].adjacency.map { abs($0) }.max()!
        for g in graphs.dropFirst() {
            XCTAssertEqual(g.nodes.count, graphs[0].nodes.count)
            let worst = zip(g.adjacency, graphs[0].adjacency).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst / scale, 1e-5, "edges, relative to the largest")
            let (a, b) = (try g.pruned(), try graphs[0].pruned())
            XCTAssertEqual(a.nodeMask, b.nodeMask, "pruned nodes")
            XCTAssertEqual(a.edgeMask, b.edgeMask, "pruned edges")
        }
    }

    func testRowsSumToInputsUnderCompleteConventions() throws {
        for name in Fixtures.allModelNames {
            for skip in [true, false] {
                let g = try graph(name, skip: skip, conventions: .complete)
                XCTAssertGreaterThan(g.featureCount, g.layerCount * g.positionCount, "\(name): every position has features")
                XCTAssertGreaterThan(g.logitCount, 0)
                // Qwen 2's value bias and GPT-2's and Pythia's attention and LayerNorm biases are
                // every row's constant (no node carries them); elsewhere none is left.
                let valueBias = ["qwen2_tiny", "gpt2_tiny", "pythia_tiny"].contains(name)
                let worst = g.worstCompletenessGap(withConstants: valueBias)
                XCTAssertLessThan(worst, 1e-4, "\(name) skip \(skip): worst relative completeness gap")
                let largestConstant = g.constants.map { abs($0) }.max()!, largestInput = max(1, g.inputs.map { abs($0) }.max()!)
                if valueBias {
                    XCTAssertGreaterThan(largestConstant, 1e-3 * largestInput, name)
                } else {
                    XCTAssertLessThan(largestConstant, 1e-3 * largestInput, name)
                }
                // Sources sit below their targets: no feature row reads a feature of its own layer or above.
                for (i, node) in g.nodes.enumerated().prefix(g.featureCount) {
                    guard case let .feature(layer, _, _, _) = node else { continue }
                    for (j, source) in g.nodes.enumerated().prefix(g.featureCount) {
                        if case let .feature(sourceLayer, _, _, _) = source, sourceLayer >= layer {
                            XCTAssertEqual(g.edge(target: i, source: j), 0, "\(name): edge \(j) → \(i)")
                        }
                    }
                }
            }
        }
    }

    /// A feature budget keeps that many features, all logits and errors; the dropped features'
    /// contributions move into the constants, so rows plus constants still sum to the inputs, and
    /// the kept rows equal the full graph's rows at the kept columns.
    func testFeatureBudgetKeepsTheMostInfluentialAndStaysComplete() throws {
        let model = try Fixtures.model("gemma3_tiny")
        let replacement = try ReplacementModel(model: model, transcoders: try Self.randomTranscoders(for: model, skip: true, seed: 3))
        let tokens = try Fixtures.sequences("gemma3_tiny")[1]
        let full = try replacement.graph(tokens: tokens)
        let g = try replacement.graph(tokens: tokens, options: GraphOptions(maxFeatureNodes: 50, updateInterval: 16))
        XCTAssertEqual(g.featureCount, 50)
        XCTAssertEqual(g.count, full.count - (full.featureCount - 50))
        XCTAssertLessThan(g.worstCompletenessGap(), 1e-4)
        XCTAssertGreaterThan(g.constants.map(abs).max()!, 1e-3, "dropped features carried something")
        let index = Dictionary(uniqueKeysWithValues: full.nodes.enumerated().map { ("\($1)", $0) })
        let map = g.nodes.map { index["\($0)"]! }
        for t in g.logitOffset..<g.count {
            for s in 0..<g.count { XCTAssertEqual(g.edge(target: t, source: s), full.edge(target: map[t], source: map[s])) }
        }
        // The first ranking is by influence through the logit rows alone: the single most
        // influential feature of the full graph's logit rows is kept.
        let influence = ReplacementModel.partialInfluence(
            full.adjacency.enumerated().map { $0.offset / full.count >= full.logitOffset ? $0.element : 0 }, count: full.count,
            weights: full.nodes.enumerated().compactMap { i, node in
                if case let .logit(_, p) = node { return (i, p) }
                return nil
            })
        let best = (0..<full.featureCount).max { influence[$0] < influence[$1] }!
        XCTAssertTrue(map.prefix(g.featureCount).contains(best))
        XCTAssertThrowsError(try replacement.graph(tokens: tokens, options: GraphOptions(maxFeatureNodes: -1)))
    }

    func testCircuitTracerConventionsLeaveTheBiasAsAConstant() throws {
        for name in ["gemma3_tiny", "llama_tiny"] {
            let g = try graph(name, skip: true, conventions: .circuitTracer)
            XCTAssertLessThan(g.worstCompletenessGap(), 1e-4, name)
            // Without the constants the rows fall short: b_dec and the BOS MLP outputs are nobody's.
            XCTAssertGreaterThan(g.worstCompletenessGap(withConstants: false), 1e-2, name)
            for (i, node) in g.nodes.enumerated() {
                if case let .feature(_, position, _, _) = node { XCTAssertNotEqual(position, 0, "BOS feature \(i)") }
            }
            for l in 0..<g.layerCount {
                for target in g.logitOffset..<g.count {
                    XCTAssertEqual(g.edge(target: target, source: g.errorIndex(layer: l, position: 0)), 0, "BOS error \(l)")
                }
            }
        }
    }

    /// With MLP skips, the gradient at ln2 of a layer seeded only at its hook_mlp_out is seed · W_skipᵀ
    /// (weight layout [d_out, d_in]), computed here on the host; without a skip it is zero.
    func testSkipOnlyBackwardMatchesHostProduct() throws {
        let model = try Fixtures.model("gemma3_tiny")
        let d = model.config.hiddenSize, layer = 3
        let tokens = try Fixtures.sequences("gemma3_tiny")[0], n = tokens.count
        var rng = SeededGenerator(seed: 5)
        let skip = (0..<(d * d)).map { _ in Float.random(in: -1...1, using: &rng) }
        let seed = (0..<(n * d)).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = model.backend
        let record = try model.recordForward(tokens)
        let hook = "blocks.\(layer).hook_mlp_out", input = "blocks.\(layer).ln2.hook_normalized"
        for withSkip in [true, false] {
            let paths = MLPSkipPaths(weights: withSkip ? [layer: try b.tensor(skip, shape: [d, d])] : [:])
            let points = try model.backward(record, logitGradient: nil, seeds: [hook: try b.tensor(seed, shape: [n, d])],
                                            hooks: HookFilter([input, "blocks.\(layer).mlp.hook_post"]),
                                            options: BackwardOptions(freezeAttentionPatterns: true, freezeNormScales: true, mlpSkips: paths))
            let got = try b.read(points.first { $0.name == input }!.gradient)
            var expected = [Float](repeating: 0, count: n * d)
            if withSkip {
                for p in 0..<n { for i in 0..<d { for o in 0..<d { expected[p * d + i] += seed[p * d + o] * skip[o * d + i] } } }
            }
            XCTAssertLessThan(zip(got, expected).map { abs($0 - $1) }.max()!, 1e-4)
            XCTAssertEqual(try b.read(points.first { $0.name == "blocks.\(layer).mlp.hook_post" }!.gradient).map(abs).max(), 0)
        }
    }

    func testSalientLogitsFollowCircuitTracer() {
        let logits = [0.05, 0.5, 0.15, 0.3].map { Float(log($0)) }
        let kept = ReplacementModel.salientLogits(logits, maxLogits: 10, probability: 0.9)
        XCTAssertEqual(kept.map(\.token), [1, 3, 2])
        XCTAssertEqual(kept[0].probability, 0.5, accuracy: 1e-6)
        XCTAssertEqual(ReplacementModel.salientLogits(logits, maxLogits: 2, probability: 0.99).map(\.token), [1, 3])
        XCTAssertEqual(ReplacementModel.salientLogits(logits, maxLogits: 10, probability: 0.4).map(\.token), [1])
    }

    func testRefusesAMissingLayer() throws {
        let model = try Fixtures.model("gemma3_tiny")
        let transcoders = try Self.randomTranscoders(for: model, skip: false, seed: 1)
        XCTAssertThrowsError(try ReplacementModel(model: model, transcoders: Array(transcoders.dropLast())))
        XCTAssertThrowsError(try ReplacementModel(model: model, transcoders: Array(transcoders.reversed())))
    }

    /// OLMo 2's MLP reads the residual as it is: its transcoders read blocks.L.hook_resid_mid, and
    /// a set reading ln2.hook_normalized (which the model does not have) is refused in one line.
    func testOLMo2TranscodersReadTheResidual() throws {
        let model = try Fixtures.model("olmo2_tiny")
        XCTAssertEqual(MLPTranscoderHooks.input(1, of: model.config), "blocks.1.hook_resid_mid")
        var transcoders = try Self.randomTranscoders(for: model, skip: true, seed: 1)
        let d = model.config.hiddenSize
        transcoders[0] = try Transcoder(
            config: TranscoderConfig(dIn: d, dSAE: 24, dOut: d, activation: .topK(4), inputHook: "blocks.0.ln2.hook_normalized",
                                     outputHook: "blocks.0.hook_mlp_out"),
            weights: TranscoderWeights(wEnc: [Float](repeating: 0.1, count: d * 24), wDec: [Float](repeating: 0.1, count: 24 * d),
                                       bEnc: [Float](repeating: 0, count: 24), bDec: [Float](repeating: 0, count: d), threshold: nil, skip: nil),
            backend: model.backend, source: "ln2 transcoder")
        XCTAssertThrowsError(try ReplacementModel(model: model, transcoders: transcoders)) {
            XCTAssertTrue("\($0)".contains("expected blocks.0.hook_resid_mid → blocks.0.hook_mlp_out"), "\($0)")
        }
    }

    /// GPT-2's learned position embeddings are part of its embedding nodes (the residual's input at
    /// each position): the logit rows' embedding edges add up to less without them.
    func testGPT2EmbeddingNodesCarryThePositions() throws {
        let g = try graph("gpt2_tiny", skip: true, conventions: .complete)
        XCTAssertLessThan(g.worstCompletenessGap(withConstants: true), 1e-4)
        let model = try Fixtures.model("gpt2_tiny")
        let positions = try model.backend.read(try model.parameter("pos_embed.W_pos"))
        XCTAssertGreaterThan(positions.prefix(model.config.hiddenSize * g.positionCount).map(abs).max()!, 1e-3,
                             "the fixture's position embeddings are not zero, so the check above can fail")
    }
}
