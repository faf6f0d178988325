import XCTest
@testable import Interpretability

/// Pruning and graph scores against circuit-tracer's `prune_graph` / `compute_graph_scores`
/// restated in numpy (tools/make_graph_pruning_golden.py → Tests/Fixtures/graphs/pruning.json).
final class AttributionGraphPruningTests: XCTestCase {
    func testPruningMatchesCircuitTracerReference() throws {
        let url = URL(fileURLWithPath: Fixtures.path("graphs/pruning.json"))
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let layers = golden["layers"] as! Int, positions = golden["positions"] as! Int
        let featureLayers = golden["feature_layers"] as! [Int]
        let probabilities = (golden["logit_probabilities"] as! [Double]).map(Float.init)
        var nodes = featureLayers.enumerated().map { GraphNode.feature(layer: $1, position: 0, feature: $0, activation: 1) }
        for l in 0..<layers { for p in 0..<positions { nodes.append(.error(layer: l, position: p)) } }
        for p in 0..<positions { nodes.append(.embedding(position: p, token: Int32(p))) }
        for (k, p) in probabilities.enumerated() { nodes.append(.logit(token: Int32(k), probability: p)) }
        let adjacency = (golden["adjacency"] as! [Double]).map(Float.init)
        XCTAssertEqual(adjacency.count, nodes.count * nodes.count)
        let zeros = [Float](repeating: 0, count: nodes.count)
        let graph = AttributionGraph(tokens: (0..<positions).map(Int32.init), layerCount: layers, nodes: nodes,
                                     featureCount: featureLayers.count, logitCount: probabilities.count, conventions: .complete,
                                     adjacency: adjacency, inputs: zeros, constants: zeros)
        for case let c as [String: Any] in golden["cases"] as! [Any] {
            let pruned = try graph.pruned(nodeThreshold: Float(c["node_threshold"] as! Double),
                                          edgeThreshold: Float(c["edge_threshold"] as! Double))
            let influence = (c["influence"] as! [Double]).map(Float.init)
            XCTAssertLessThan(Fixtures.relativeError(pruned.influence, influence), 1e-5)
            XCTAssertLessThan(Fixtures.relativeError(pruned.cumulativeInfluence, (c["cumulative"] as! [Double]).map(Float.init)), 1e-5)
            XCTAssertEqual(pruned.nodeMask, (c["node_mask"] as! [Int]).map { $0 == 1 }, "node mask at \(c["node_threshold"]!)")
            XCTAssertEqual(pruned.edgeMask, (c["edge_mask"] as! [Int]).map { $0 == 1 }, "edge mask at \(c["edge_threshold"]!)")
            XCTAssertEqual(pruned.replacementScore, Float(golden["replacement_score"] as! Double), accuracy: 1e-5)
            XCTAssertEqual(pruned.completenessScore, Float(golden["completeness_score"] as! Double), accuracy: 1e-5)
            XCTAssertEqual(pruned.errorShare, Float(golden["error_share"] as! Double), accuracy: 1e-5)
        }
        XCTAssertThrowsError(try graph.pruned(nodeThreshold: 1.5))
    }
}
