import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
import Models
@testable import Interpretability

/// MLP neurons as scan units, against direct computations: activations from a full traced forward
/// pass of blocks.L.mlp.hook_post, logit effects from the checkpoint's own weights by host loops,
/// and the polysemanticity grouping from the SAE run separately on each example's context.
final class NeuronScanTests: XCTestCase {
    let layer = 2

    /// Deterministic contexts, BOS first, drawn from few tokens so that neurons peak in several contexts.
    func contexts(count: Int, length: Int, seed: UInt32 = 777) -> [[Int32]] {
        var state = seed
        return (0..<count).map { _ in
            [2] + (1..<length).map { _ in state = state &* 1_664_525 &+ 1_013_904_223; return Int32(3 + (state >> 16) % 40) }
        }
    }

    /// blocks.L.mlp.hook_post of a full forward pass (logits and all), [n, d_mlp] on the host.
    func tracedPost(_ model: Transformer, _ tokens: [Int32], layer: Int) throws -> [Float] {
        let name = "blocks.\(layer).mlp.hook_post"
        let hooks = Hooks(capture: HookFilter([name]))
        try model.forward(tokens, hooks: hooks, logits: .all)
        return try model.backend.read(hooks.activation(name)!)
    }

    func testNeuronScanMatchesATracedForwardPass() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let neurons = try MLPNeurons(layer: layer, model: model)
        var options = FeatureScan.Options()
        (options.topExamples, options.before, options.after) = (4, 3, 2)
        let scan = FeatureScan(width: neurons.width, bos: 2, options: options)
        let texts = contexts(count: 5, length: 24)
        var acts: [[Float]] = []
        for t in texts {
            try scan.add(context: t, model: model, units: neurons)
            acts.append(try tracedPost(model, t, layer: layer))
        }
        let width = model.config.intermediateSize
        XCTAssertEqual(neurons.width, width)
        XCTAssertEqual(scan.tokens, 5 * 23, "BOS left out")
        var checked = 0
        for n in 0..<width {
            var values: [Float] = [], best: [(context: Int, position: Int, value: Float)] = []
            for (c, t) in texts.enumerated() {
                let column = t.indices.map { $0 == 0 ? 0 : acts[c][$0 * width + n] }
                values += column.dropFirst()
                let top = column.max()!
                if top > 0 { best.append((c, column.firstIndex(of: top)!, top)) }
            }
            let fired = values.filter { $0 > 0 }
            let s = scan.summary(n)
            XCTAssertEqual(s.firing, fired.count, "neuron \(n)")
            XCTAssertEqual(s.maxActivation, fired.max() ?? 0, "neuron \(n)")
            XCTAssertEqual(s.meanActivation, fired.isEmpty ? 0 : fired.reduce(0.0) { $0 + Double($1) } / Double(fired.count), accuracy: 1e-6)
            let expected = best.enumerated().sorted { a, b in
                a.element.value != b.element.value ? a.element.value > b.element.value : a.offset < b.offset
            }.prefix(4).map(\.element)
            let got = scan.examples(n)
            XCTAssertEqual(got.map(\.context), expected.map(\.context), "neuron \(n)")
            XCTAssertEqual(got.map(\.position), expected.map(\.position), "neuron \(n)")
            for (e, x) in zip(got, expected) {
                let start = max(0, x.position - 3), end = min(24, x.position + 3)
                XCTAssertEqual(e.activations, (start..<end).map { $0 == 0 ? 0 : acts[x.context][$0 * width + n] })
                XCTAssertEqual(e.companions, [], "no companion SAE")
            }
            if got.count == 4 { checked += 1 }
        }
        XCTAssertGreaterThan(checked, width / 4, "enough neurons peaked in four contexts to test the ranking")
        // Neurons are signed: some activations are negative and must not count as firing.
        XCTAssertTrue(acts.flatMap { $0 }.contains { $0 < 0 })
    }

    /// s̄ · (1 + w_post) ⊙ W_down[:, n] · W_Uᵀ with every piece read from the checkpoint and summed on the host.
    func testNeuronLogitEffectsMatchAHostComputationThroughThePostNorm() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let checkpoint = try Checkpoint(directory: Fixtures.path("gemma2_tiny"))
        let (d, f, vocab) = (model.config.hiddenSize, model.config.intermediateSize, model.config.vocabSize)
        let down = try checkpoint.tensor("model.layers.\(layer).mlp.down_proj.weight").floats()             // [d, f]
        let w = try checkpoint.tensor("model.layers.\(layer).post_feedforward_layernorm.weight").floats()  // Gemma: gain 1 + w
        let unembedding = try checkpoint.tensor("model.embed_tokens.weight").floats()                     // tied [vocab, d]
        let finalGain = try checkpoint.tensor("model.norm.weight").floats().map { 1 + $0 }                 // read through it
        let neurons = try MLPNeurons(layer: layer, model: model)
        let scan = FeatureScan(width: f, bos: 2)
        var inverseRMS: [Double] = []
        for t in contexts(count: 3, length: 16) {
            try scan.add(context: t, model: model, units: neurons)
            let post = try tracedPost(model, t, layer: layer)
            for p in 1..<t.count {   // BOS left out
                let m = (0..<d).map { i in (0..<f).reduce(0.0) { $0 + Double(post[p * f + $1]) * Double(down[i * f + $1]) } }
                inverseRMS.append(1 / (m.reduce(0) { $0 + $1 * $1 } / Double(d) + Double(model.config.rmsEps)).squareRoot())
            }
        }
        let scale = inverseRMS.reduce(0, +) / Double(inverseRMS.count)
        XCTAssertEqual(neurons.frozenScale!, scale, accuracy: 1e-5 * scale)
        XCTAssertEqual(neurons.inverseRMSTokens, 3 * 15)
        for n in [0, 17, f - 1] {
            let direction = (0..<d).map { Float(scale * Double(1 + w[$0]) * Double(down[$0 * f + n])) }
            let reference = (0..<vocab).map { v in (0..<d).reduce(Float(0)) { $0 + direction[$1] * finalGain[$1] * unembedding[v * d + $1] } }
            let dash = try FeatureDashboard(unit: n, scan: scan, units: neurons, model: model, logitCount: 6)
            XCTAssertEqual(dash.unitName, "neuron")
            XCTAssertEqual(dash.directionNorm, direction.reduce(0) { $0 + $1 * $1 }.squareRoot(), accuracy: 1e-4 * dash.directionNorm)
            XCTAssertEqual(dash.logits.positive.map { Int($0.token) }, Array(reference.indices.sorted { reference[$0] > reference[$1] }.prefix(6)))
            XCTAssertEqual(dash.logits.negative.map { Int($0.token) }, Array(reference.indices.sorted { reference[$0] < reference[$1] }.prefix(6)))
            for t in dash.logits.positive + dash.logits.negative {
                XCTAssertEqual(t.logit, reference[Int(t.token)], accuracy: 1e-4 * max(1, abs(reference[Int(t.token)])))
            }
        }
        XCTAssertThrowsError(try FeatureDashboard(unit: f, scan: scan, units: neurons, model: model)) {
            XCTAssertTrue("\($0)".contains("neuron \(f) is out of range"), "\($0)")
        }
        XCTAssertThrowsError(try MLPNeurons(layer: 4, model: model)) { XCTAssertTrue("\($0)".contains("--layer 4 is out of range"), "\($0)") }
    }

    /// Llama has no post-feedforward norm: a neuron's direction is its W_down column, unscaled.
    func testLlamaNeuronDirectionIsTheDownColumn() throws {
        let model = try Fixtures.model("llama_tiny")
        let checkpoint = try Checkpoint(directory: Fixtures.path("llama_tiny"))
        let (d, f) = (model.config.hiddenSize, model.config.intermediateSize)
        let down = try checkpoint.tensor("model.layers.1.mlp.down_proj.weight").floats()
        let neurons = try MLPNeurons(layer: 1, model: model)
        XCTAssertNil(try model.postFeedforwardGain(layer: 1))
        for n in [0, f / 2] {
            let got = try neurons.residualDirection(n, model: model)
            XCTAssertEqual(Fixtures.relativeError(got, (0..<d).map { down[$0 * f + n] }), 0, accuracy: 1e-6)
        }
        XCTAssertNil(neurons.frozenScale)
        XCTAssertEqual(neurons.directionFormula, "W_down[:, n]")
    }

    /// The greedy cover by hand: the feature shared by the most ungrouped examples takes them.
    func testPolysemanticityGroupsByAGreedyCoverOfSharedFeatures() {
        func example(_ i: Int, _ features: [(Int, Float)]) -> FeatureExample {
            FeatureExample(context: i, position: 1, windowStart: 0, tokens: [2, 5], activations: [0, Float(10 - i)], maxActivation: Float(10 - i),
                           companions: features.map { FeatureActivation(feature: $0.0, activation: $0.1) })
        }
        let dense: Set = [9]
        let examples = [example(0, [(9, 5), (1, 2)]), example(1, [(1, 3), (2, 1)]), example(2, [(2, 4), (1, 1)]), example(3, [(9, 8), (3, 1)]),
                        example(4, [(3, 2)]), example(5, [(7, 1), (9, 1)]), example(6, [])]
        let p = Polysemanticity(unit: 7, examples: examples) { dense.contains($0) }
        // Feature 1 is in 0, 1, 2; then 2 has nothing left; 3 is in 3 and 4; 7 (and dense 9) would take 5 alone.
        XCTAssertEqual(p.groups.map(\.feature), [1, 3, nil])
        XCTAssertEqual(p.groups.map(\.examples), [[0, 1, 2], [3, 4], [5, 6]])
        let shares: [Double] = [3.0 / 7, 2.0 / 7, 2.0 / 7]
        XCTAssertEqual(p.groups.map(\.share), shares)
        XCTAssertEqual(p.distinctFeatures, 2)
        XCTAssertEqual(p.coverage, 5.0 / 7, accuracy: 1e-12)
        let h: Double = -(shares[0] * log(shares[0]) + shares[1] * log(shares[1]))
        XCTAssertEqual(p.effectiveFeatures, exp(h), accuracy: 1e-12, "the unshared remainder adds nothing")
        // Equal counts: the larger summed activation wins (5: 3 + 2 against 4: 1 + 1).
        let tie = Polysemanticity(unit: 0, examples: [example(0, [(5, 3), (4, 1)]), example(1, [(5, 2), (4, 1)])]) { _ in false }
        XCTAssertEqual(tie.groups.map(\.feature), [5])
        XCTAssertEqual(tie.effectiveFeatures, 1, accuracy: 1e-12)
        let nothingShared = Polysemanticity(unit: 0, examples: [example(0, [(4, 1)]), example(1, [(5, 2)])]) { _ in false }
        XCTAssertEqual(nothingShared.groups.map(\.feature), [nil])
        XCTAssertEqual(nothingShared.coverage, 0)
        XCTAssertEqual(nothingShared.effectiveFeatures, 1)
        let even = Polysemanticity(unit: 0, examples: (0..<6).map { example($0, [($0 / 2, 1)]) }) { _ in false }
        XCTAssertEqual(even.effectiveFeatures, 3, accuracy: 1e-12, "three equal groups covering everything")
        // Only the strongest sparse features take part: feature 8 (4th strongest) is shared but ignored.
        let weak = Polysemanticity(unit: 0, examples: [example(0, [(1, 9), (2, 8), (3, 7), (8, 1)]), example(1, [(4, 9), (5, 8), (6, 7), (8, 1)])]) { _ in false }
        XCTAssertEqual(weak.groups.map(\.feature), [nil])
        let dense4 = Polysemanticity(unit: 0, examples: [example(0, [(9, 9), (1, 8), (2, 7), (8, 1)]), example(1, [(9, 9), (4, 8), (5, 7), (8, 1)])]) { $0 == 9 }
        XCTAssertEqual(dense4.groups.map(\.feature), [8], "dense features do not use up the three")
    }

    /// Contexts packed as rows of one pass scan as they do one pass each, bit for bit (every context
    /// has 8 tokens or more): neurons with a companion SAE, and SAE features.
    func testBatchedContextsScanAsSinglePassesDo() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let sae = try SAE.load(path: Fixtures.path("sae/gemmascope/layer_1/width_96"), backend: model.backend)
        let neurons = try MLPNeurons(layer: layer, model: model)
        var options = FeatureScan.Options()
        options.topExamples = 4
        let texts = contexts(count: 7, length: 20, seed: 7).enumerated().map { i, t in Array(t.prefix(9 + i)) }
        func scans(batch: Int) throws -> (FeatureScan, FeatureScan, FeatureScan) {
            let (n, c, f) = (FeatureScan(width: neurons.width, bos: 2, options: options), FeatureScan(width: sae.dSAE, bos: 2, options: options),
                             FeatureScan(width: sae.dSAE, bos: 2, options: options))
            for start in stride(from: 0, to: texts.count, by: batch) {
                let group = Array(texts[start..<min(texts.count, start + batch)])
                try n.add(contexts: group, model: model, units: neurons, companion: (sae, c))
                try f.add(contexts: group, model: model, units: sae)
            }
            return (n, c, f)
        }
        let single = try scans(batch: 1)
        for batch in [3, 7] {
            let batched = try scans(batch: batch)
            for (a, b, units) in [(single.0, batched.0, neurons.width), (single.1, batched.1, sae.dSAE), (single.2, batched.2, sae.dSAE)] {
                XCTAssertEqual(a.tokens, b.tokens)
                XCTAssertEqual(a.contexts, b.contexts)
                for u in 0..<units {
                    XCTAssertEqual(a.summary(u), b.summary(u), "unit \(u), \(batch) contexts a pass")
                    XCTAssertEqual(a.examples(u), b.examples(u), "unit \(u), \(batch) contexts a pass")
                    XCTAssertEqual(a.histogram(u), b.histogram(u))
                }
            }
        }
    }

    /// One pass with a companion SAE: the SAE's own scan equals a plain SAE scan, and each neuron
    /// example's companions are the SAE's active features at that token, from a separate SAE run.
    func testCompanionSAEAnnotatesExamplesAsASeparateRunDoes() throws {
        let model = try Fixtures.model("gemma2_tiny")
        let sae = try SAE.load(path: Fixtures.path("sae/gemmascope/layer_1/width_96"), backend: model.backend)
        let neurons = try MLPNeurons(layer: layer, model: model)
        var options = FeatureScan.Options()
        options.topExamples = 5
        options.companionLimit = sae.dSAE   // all active features, so the cover can be checked against full SAE runs
        let scan = FeatureScan(width: neurons.width, bos: 2, options: options)
        let companion = FeatureScan(width: sae.dSAE, bos: 2, options: options)
        let plain = FeatureScan(width: sae.dSAE, bos: 2, options: options)
        let texts = contexts(count: 6, length: 20, seed: 99)
        var saeActs: [[Float]] = []
        for t in texts {
            try scan.add(context: t, model: model, units: neurons, companion: (sae, companion))
            try plain.add(context: t, model: model, units: sae)
            saeActs.append(try sae.run(on: model, tokens: t).acts)
        }
        for f in 0..<sae.dSAE {
            XCTAssertEqual(companion.summary(f), plain.summary(f))
            XCTAssertEqual(companion.examples(f).map(\.position), plain.examples(f).map(\.position))
        }
        let densities = (0..<sae.dSAE).map { f in
            Double(texts.indices.reduce(0) { n, c in n + (1..<20).filter { saeActs[c][$0 * sae.dSAE + f] > 0 }.count }) / Double(6 * 19)
        }
        let maxDensity = 0.3
        var multi = 0
        for n in 0..<neurons.width {
            let examples = scan.examples(n)
            for e in examples {
                let row = Array(saeActs[e.context][(e.position * sae.dSAE)..<((e.position + 1) * sae.dSAE)])
                let active = row.indices.filter { row[$0] > 0 }.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }
                XCTAssertEqual(e.companions.map(\.feature), active, "neuron \(n)")
                XCTAssertEqual(e.companions.map(\.activation), active.map { row[$0] })
            }
            // The cover's properties, checked on the separate SAE runs with the directly counted densities.
            func sparse(_ i: Int) -> Set<Int> {
                let e = examples[i]
                let row = Array(saeActs[e.context][(e.position * sae.dSAE)..<((e.position + 1) * sae.dSAE)])
                let sparse = row.indices.filter { row[$0] > 0 && densities[$0] <= maxDensity }.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }
                return Set(sparse.prefix(3))   // the strongest three take part
            }
            let p = Polysemanticity(unit: n, examples: examples) { companion.summary($0).density > maxDensity }
            XCTAssertEqual(p.groups.flatMap(\.examples).sorted(), Array(examples.indices), "a partition, neuron \(n)")
            let shared = p.groups.filter { $0.feature != nil }
            XCTAssertEqual(shared.map(\.examples.count), shared.map(\.examples.count).sorted(by: >), "greedy order")
            for g in shared {
                XCTAssertGreaterThanOrEqual(g.examples.count, 2)
                for i in g.examples { XCTAssertTrue(sparse(i).contains(g.feature!), "neuron \(n): feature \(g.feature!) active in example \(i)") }
            }
            if let rest = p.groups.last, rest.feature == nil {
                for (a, i) in rest.examples.enumerated() {
                    for j in rest.examples[(a + 1)...] { XCTAssertTrue(sparse(i).isDisjoint(with: sparse(j)), "neuron \(n): the remainder shares nothing") }
                }
            }
            if shared.count > 1 { multi += 1 }
        }
        XCTAssertGreaterThan(multi, 5, "enough neurons split across several shared features to test the grouping")
        // The ranking measures only the neurons that could place; every neuron measured and sorted
        // by the stated rule (unrelated features, coverage, unit) gives the same list.
        let readings = FeatureReadings(sae: sae, model: model)
        let ranked = try Polysemanticity.ranked(scan: scan, companion: companion, maxDensity: maxDensity, count: 8, readings: readings)
        let everyone = try (0..<neurons.width).filter { scan.summary($0).firing > 0 }.map {
            try readings.measure(Polysemanticity(unit: $0, examples: scan.examples($0)) { companion.summary($0).density > maxDensity })
        }.sorted {
            let (x, y) = ($0.unrelatedness!.unrelatedFeatures, $1.unrelatedness!.unrelatedFeatures)
            return x != y ? x > y : $0.coverage != $1.coverage ? $0.coverage > $1.coverage : $0.unit < $1.unit
        }
        XCTAssertEqual(ranked, Array(everyone.prefix(8)))
        for p in everyone {
            XCTAssertLessThanOrEqual(p.unrelatedness!.unrelatedFeatures, p.effectiveFeatures * (1 + 1e-12), "neuron \(p.unit)")
            // The pairwise means from the SAE's own decoder rows and logit effects, by host loops.
            let u = p.unrelatedness!, fs = u.features
            guard fs.count > 1 else { continue }
            var cosines: [Double] = [], overlaps: [Double] = []
            for i in fs.indices {
                for j in fs.indices where j > i {
                    let (a, b) = (try sae.direction(fs[i]), try sae.direction(fs[j]))
                    let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                    let na = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot(), nb = b.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                    cosines.append(abs(dot / (na * nb)))
                    let (pa, pb) = (Set(try LogitEffects.of(feature: fs[i], sae: sae, model: model).positive.map(\.token)),
                                    Set(try LogitEffects.of(feature: fs[j], sae: sae, model: model).positive.map(\.token)))
                    overlaps.append(Double(pa.intersection(pb).count) / Double(pa.union(pb).count))
                }
            }
            XCTAssertEqual(u.meanAbsCosine!, cosines.reduce(0, +) / Double(cosines.count), accuracy: 1e-9)
            XCTAssertEqual(u.meanPromotedOverlap!, overlaps.reduce(0, +) / Double(overlaps.count), accuracy: 1e-12)
        }
    }
}
