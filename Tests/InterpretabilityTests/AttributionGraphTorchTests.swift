import XCTest
import CPUBackend
import Formats
@testable import Interpretability

/// The unpruned graph against an independent torch build of circuit-tracer's frozen replacement
/// model (tools/make_graph_goldens.py → Tests/Fixtures/graphs/gemma3_tiny/): the same transcoders,
/// loaded here from their Gemma Scope 2 folders, must give the same nodes, inputs and edges.
final class AttributionGraphTorchTests: XCTestCase {
    func testGraphMatchesTorchReplacementModel() throws {
        try compare("graph", conventions: .complete)
    }

    func testCircuitTracerConventionsMatchTorch() throws {
        try compare("graph_circuit_tracer", conventions: .circuitTracer)
    }

    /// The matrix the circuit-tracer package itself computed (0.5.0, nnsight backend;
    /// tools/compare_circuit_tracer.py → circuit_tracer_package.*): same nodes, same edges. Its
    /// embedding edges are √d_model too small (its nnsight backend multiplies the gradient at Gemma's
    /// scaled embedding output by the unscaled embedding row), so those columns are rescaled first.
    func testAgreesWithCircuitTracerPackage() throws {
        let model = try Fixtures.model("gemma3_tiny")
        let dir = "graphs/gemma3_tiny"
        let folders = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path(dir + "/transcoders"))
        let transcoders = try folders.map { try GemmaScope2.loadTranscoder(directory: Fixtures.path("\(dir)/transcoders/\($0)"), backend: model.backend) }
            .sorted { $0.config.layer! < $1.config.layer! }
        try compareWithCircuitTracer("circuit_tracer_package", try ReplacementModel(model: model, transcoders: transcoders))
    }

    /// A cross-layer transcoder (random, JumpReLU with affine skips, in the Gemma Scope 2 layout)
    /// against circuit-tracer's `CrossLayerTranscoder` with the same weights
    /// (tools/compare_circuit_tracer.py --clt → circuit_tracer_clt.*); and complete under Lantern's conventions.
    func testCrossLayerTranscoderAgreesWithCircuitTracerPackage() throws {
        let model = try Fixtures.model("gemma3_tiny")
        let clt = try GemmaScope2.loadCrossLayerTranscoder(directory: Fixtures.path("graphs/gemma3_tiny/clt"), backend: model.backend)
        let replacement = try ReplacementModel(model: model, crossLayer: clt)
        try compareWithCircuitTracer("circuit_tracer_clt", replacement)
        let graph = try replacement.graph(tokens: [2, 165, 234, 93, 146, 71], options: GraphOptions(conventions: .complete))
        XCTAssertLessThan(graph.worstCompletenessGap(withConstants: false), 1e-4, "rows sum to inputs with no constant")
        XCTAssertTrue(graph.constants.allSatisfy { abs($0) < 1e-4 }, "complete conventions leave nothing unattributed")
    }

    func compareWithCircuitTracer(_ stem: String, _ replacement: ReplacementModel) throws {
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("graphs/gemma3_tiny/\(stem).json")))) as! [String: Any]
        let tokens = (golden["tokens"] as! [Int]).map(Int32.init)
        let graph = try replacement.graph(tokens: tokens, options: GraphOptions(conventions: .circuitTracer))

        let features = (golden["features"] as! [[Int]]).map { "\($0[0])_\($0[2])_\($0[1])" }
        XCTAssertEqual(Array((0..<graph.featureCount).map(graph.nodeID)), features, "active features (layer, position, feature)")
        XCTAssertEqual(graph.nodes.suffix(graph.logitCount).map { node -> Int in
            if case let .logit(token, _) = node { return Int(token) }
            return -1
        }, golden["logit_tokens"] as! [Int])
        var theirs = try SafetensorsFile(path: Fixtures.path("graphs/gemma3_tiny/\(stem).safetensors")).tensor("adjacency").floats()
        XCTAssertEqual(theirs.count, graph.adjacency.count)
        guard theirs.count == graph.adjacency.count else { return }
        let scale = Float(golden["embedding_scale"] as! Double)
        for row in 0..<graph.count {
            for position in 0..<graph.positionCount { theirs[row * graph.count + graph.embeddingIndex(position: position)] *= scale }
        }
        for row in Array(0..<graph.featureCount) + Array(graph.logitOffset..<graph.count) {
            let range = (row * graph.count)..<((row + 1) * graph.count)
            XCTAssertLessThan(Fixtures.relativeError(Array(graph.adjacency[range]), Array(theirs[range])), 1e-3, "row \(row)")
        }
        print("circuit-tracer package agreement (\(stem)): edges \(Fixtures.relativeError(graph.adjacency, theirs)) (max |Δ| / max |edge|)")
    }

    func compare(_ stem: String, conventions: GraphConventions) throws {
        let dir = "graphs/gemma3_tiny"
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("\(dir)/\(stem).json")))) as! [String: Any]
        let model = try Fixtures.model("gemma3_tiny")
        let folders = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path(dir + "/transcoders"))
        let transcoders = try folders.map { try GemmaScope2.loadTranscoder(directory: Fixtures.path("\(dir)/transcoders/\($0)"), backend: model.backend) }
            .sorted { $0.config.layer! < $1.config.layer! }
        let tokens = (golden["tokens"] as! [Int]).map(Int32.init)
        let graph = try ReplacementModel(model: model, transcoders: transcoders).graph(tokens: tokens, options: GraphOptions(conventions: conventions))

        let features = golden["features"] as! [[Double]]
        XCTAssertEqual(graph.featureCount, features.count)
        for (node, f) in zip(graph.nodes, features) {
            guard case let .feature(layer, position, feature, activation) = node else { return XCTFail("\(node) is not a feature") }
            XCTAssertEqual([layer, position, feature], f.prefix(3).map { Int($0) })
            XCTAssertEqual(Double(activation), f[3], accuracy: 1e-4 * max(1, abs(f[3])))
        }
        let logits = golden["logit_tokens"] as! [Int]
        XCTAssertEqual(graph.nodes.suffix(graph.logitCount).map { node -> Int in
            if case let .logit(token, _) = node { return Int(token) }
            return -1
        }, logits)

        let file = try SafetensorsFile(path: Fixtures.path("\(dir)/\(stem).safetensors"))
        let adjacency = try file.tensor("adjacency").floats(), inputs = try file.tensor("inputs").floats()
        XCTAssertEqual(adjacency.count, graph.adjacency.count)
        let edgeError = Fixtures.relativeError(graph.adjacency, adjacency)
        print("torch agreement (\(stem)): edges \(edgeError), inputs \(Fixtures.relativeError(graph.inputs, inputs)) (max |Δ| / max |value|)")
        XCTAssertLessThan(edgeError, 1e-3, "edges: max |Δ| / max |edge|")
        XCTAssertLessThan(Fixtures.relativeError(graph.inputs, inputs), 1e-4, "inputs")
        // Row by row too, so a small row cannot hide behind the largest edge.
        for row in Array(0..<graph.featureCount) + Array(graph.logitOffset..<graph.count) {
            let range = (row * graph.count)..<((row + 1) * graph.count)
            XCTAssertLessThan(Fixtures.relativeError(Array(graph.adjacency[range]), Array(adjacency[range])), 1e-3, "row \(row)")
        }
    }
}
