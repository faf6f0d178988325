import Foundation
import LanternCore

/// What pruning keeps, and the graph's scores (circuit-tracer's `prune_graph` and
/// `compute_graph_scores`, graph.py).
public struct PrunedGraph: Sendable {
    /// Per node: kept.
    public let nodeMask: [Bool]
    /// Row-major [count, count] like the adjacency: kept edges (target, source).
    public let edgeMask: [Bool]
    /// Per node: its influence on the logits (normalised |A|, weighted by the logits' probabilities).
    public let influence: [Float]
    /// Per node: the cumulative share of total influence at its rank (what circuit-tracer writes as
    /// a node's `influence` in the JSON).
    public let cumulativeInfluence: [Float]
    /// circuit-tracer's replacement score: token influence / (token + error influence).
    public let replacementScore: Float
    /// circuit-tracer's completeness score: the influence-weighted share of non-error inputs.
    public let completenessScore: Float
    /// The dark matter's share: error influence / (token + error influence) = 1 − replacement score,
    /// per layer (summing to `errorShare`).
    public let errorShareByLayer: [Float]
    public var errorShare: Float { errorShareByLayer.reduce(0, +) }
}

extension AttributionGraph {
    /// |A| with each row divided by its L1 norm (at least 1e-10).
    func normalizedAbsolute(_ matrix: [Float]) -> [Float] {
        var out = matrix.map(abs)
        for t in 0..<count {
            var s: Float = 0
            for j in 0..<count { s += out[t * count + j] }
            let scale = 1 / max(s, 1e-10)
            for j in 0..<count { out[t * count + j] *= scale }
        }
        return out
    }

    /// w·A + w·A² + … (the graph is acyclic, so the series ends within `count` steps).
    func influence(_ a: [Float], weights: [Float]) throws -> [Float] {
        var current = weights, total = [Float](repeating: 0, count: count)
        for _ in 0...count {
            var next = [Float](repeating: 0, count: count)
            for t in 0..<count where current[t] != 0 {
                let w = current[t], row = t * count
                for s in 0..<count where a[row + s] != 0 { next[s] += w * a[row + s] }
            }
            guard next.contains(where: { $0 != 0 }) else { return total }
            for i in 0..<count { total[i] += next[i] }
            current = next
        }
        throw LanternError.backend("influence did not converge: the graph has a cycle")
    }

    /// The logits' probabilities at their rows, zero elsewhere.
    var logitWeights: [Float] {
        var w = [Float](repeating: 0, count: count)
        for (k, node) in nodes[logitOffset...].enumerated() {
            if case let .logit(_, p) = node { w[logitOffset + k] = p }
        }
        return w
    }

    /// The score above which `fraction` of the total lies (circuit-tracer's `find_threshold`).
    static func threshold(_ scores: [Float], keeping fraction: Float) -> Float {
        let sorted = scores.sorted(by: >)
        guard !sorted.isEmpty else { return 0 }
        let total = sorted.reduce(0.0) { $0 + Double($1) }
        var cumulative = 0.0
        for (i, s) in sorted.enumerated() {
            cumulative += Double(s)
            if cumulative / total >= Double(fraction) { return s }
            if i == sorted.count - 1 { return s }
        }
        return sorted[sorted.count - 1]
    }

    /// Keeps the nodes carrying `nodeThreshold` of the logits' influence and the edges carrying
    /// `edgeThreshold` of it, then drops feature and error nodes left without outgoing edges and
    /// features left without incoming ones, as circuit-tracer's `prune_graph` does.
    public func pruned(nodeThreshold: Float = 0.8, edgeThreshold: Float = 0.98) throws -> PrunedGraph {
        for (name, value) in [("node threshold", nodeThreshold), ("edge threshold", edgeThreshold)] where !(0...1).contains(value) {
            throw LanternError.invalidArgument("\(name) must lie in [0, 1], got \(value)")
        }
        let w = logitWeights, normalized = normalizedAbsolute(adjacency)
        let nodeInfluence = try influence(normalized, weights: w)
        let nodeCut = Self.threshold(nodeInfluence, keeping: nodeThreshold)
        var nodeMask = nodeInfluence.map { $0 >= nodeCut }
        for i in embeddingOffset..<count { nodeMask[i] = true }

        var prunedMatrix = adjacency
        for t in 0..<count { for s in 0..<count where !nodeMask[t] || !nodeMask[s] { prunedMatrix[t * count + s] = 0 } }
        let normalizedPruned = normalizedAbsolute(prunedMatrix)
        let prunedInfluence = try influence(normalizedPruned, weights: w)
        var edgeScores = normalizedPruned
        for t in 0..<count { for s in 0..<count { edgeScores[t * count + s] *= prunedInfluence[t] + w[t] } }
        let edgeCut = Self.threshold(edgeScores, keeping: edgeThreshold)
        var edgeMask = edgeScores.map { $0 >= edgeCut }

        func dropOrphans() {
            for s in 0..<embeddingOffset where nodeMask[s] {
                nodeMask[s] = (0..<count).contains { edgeMask[$0 * count + s] }
            }
            for t in 0..<featureCount where nodeMask[t] {
                nodeMask[t] = (0..<count).contains { edgeMask[t * count + $0] }
            }
        }
        var previous = nodeMask
        dropOrphans()
        while previous != nodeMask {
            previous = nodeMask
            for t in 0..<count { for s in 0..<count where !nodeMask[t] || !nodeMask[s] { edgeMask[t * count + s] = false } }
            dropOrphans()
        }

        let order = nodeInfluence.indices.sorted { nodeInfluence[$0] > nodeInfluence[$1] }
        let total = nodeInfluence.reduce(0.0) { $0 + Double($1) }
        var cumulative = [Float](repeating: 0, count: count), running = 0.0
        for i in order {
            running += Double(nodeInfluence[i])
            cumulative[i] = Float(running / max(total, 1e-30))
        }

        let errorInfluence = (errorOffset..<embeddingOffset).reduce(0.0) { $0 + Double(nodeInfluence[$1]) }
        let tokenInfluence = (embeddingOffset..<logitOffset).reduce(0.0) { $0 + Double(nodeInfluence[$1]) }
        let roots = max(errorInfluence + tokenInfluence, 1e-30)
        let byLayer = (0..<layerCount).map { l in
            Float((0..<positionCount).reduce(0.0) { $0 + Double(nodeInfluence[errorIndex(layer: l, position: $1)]) } / roots)
        }
        var weighted = 0.0, weightTotal = 0.0
        for t in 0..<count {
            let errorFraction = (errorOffset..<embeddingOffset).reduce(0.0) { $0 + Double(normalized[t * count + $1]) }
            let o = Double(nodeInfluence[t] + w[t])
            weighted += (1 - errorFraction) * o
            weightTotal += o
        }
        return PrunedGraph(nodeMask: nodeMask, edgeMask: edgeMask, influence: nodeInfluence, cumulativeInfluence: cumulative,
                           replacementScore: Float(tokenInfluence / roots), completenessScore: Float(weighted / max(weightTotal, 1e-30)),
                           errorShareByLayer: byLayer)
    }
}
