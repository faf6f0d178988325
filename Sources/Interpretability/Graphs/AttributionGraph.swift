import Foundation

/// How a graph treats what no node explains. circuit-tracer leaves each transcoder's decoder bias
/// b_dec out of the error nodes and zeroes every feature and error at the first position (BOS),
/// so its rows fall short of the targets' inputs by those constants. Lantern's default puts b_dec
/// into the error nodes and keeps every position, which makes each row sum exactly to its input.
public struct GraphConventions: Sendable, Equatable {
    /// Error node = MLP output − features − skip (true), or − b_dec too (false, circuit-tracer).
    public var decoderBiasInError: Bool
    /// Leading positions whose features and errors are zeroed (circuit-tracer: 1, the BOS token).
    public var zeroedLeadingPositions: Int

    public init(decoderBiasInError: Bool, zeroedLeadingPositions: Int) {
        self.decoderBiasInError = decoderBiasInError
        self.zeroedLeadingPositions = zeroedLeadingPositions
    }

    /// Every row sums to its target's input: b_dec in the errors, no position zeroed.
    public static let complete = GraphConventions(decoderBiasInError: true, zeroedLeadingPositions: 0)
    /// circuit-tracer's nodes (attribute_transformerlens.py, single_layer_transcoder.py).
    public static let circuitTracer = GraphConventions(decoderBiasInError: false, zeroedLeadingPositions: 1)
}

/// What a graph is built with, apart from the prompt and the transcoders.
public struct GraphOptions: Sendable, Equatable {
    /// Logit nodes: the most probable next tokens until their cumulative probability reaches
    /// `logitProbability`, at most `maxLogits` (circuit-tracer's `compute_salient_logits`).
    public var maxLogits: Int
    public var logitProbability: Float
    public var conventions: GraphConventions
    /// At most this many feature nodes (nil: all), chosen by their influence on the logits through
    /// the rows computed so far; the others' contributions move into the rows' constants.
    public var maxFeatureNodes: Int?
    /// How many feature rows to compute between re-rankings when `maxFeatureNodes` applies.
    public var updateInterval: Int
    /// Targets per backward walk (each a stacked copy of the prompt): speed and memory; edges move
    /// only by the order of float32 sums (~1e-6 relative), pruning keeps the same nodes and edges.
    public var batchSize: Int

    public init(maxLogits: Int = 10, logitProbability: Float = 0.95, conventions: GraphConventions = .complete,
                maxFeatureNodes: Int? = nil, updateInterval: Int = 64, batchSize: Int = 64) {
        self.maxLogits = maxLogits
        self.logitProbability = logitProbability
        self.conventions = conventions
        self.maxFeatureNodes = maxFeatureNodes
        self.updateInterval = updateInterval
        self.batchSize = batchSize
    }
}

/// One node of an attribution graph.
public enum GraphNode: Sendable, Equatable {
    /// An active transcoder feature at (layer, position) with its activation.
    case feature(layer: Int, position: Int, feature: Int, activation: Float)
    /// The part of MLP `layer`'s output at `position` the transcoder leaves unexplained.
    case error(layer: Int, position: Int)
    /// The token embedding at `position`.
    case embedding(position: Int, token: Int32)
    /// A next-token logit at the last position, with its probability.
    case logit(token: Int32, probability: Float)
}

/// The unpruned attribution graph of one prompt: nodes in circuit-tracer's order
/// [features (layer, position, feature), errors (layer-major, then position), embeddings, logits]
/// and the dense matrix of direct effects, rows = targets, columns = sources
/// (`adjacency[target · count + source]`). Only feature and logit rows are non-zero.
public struct AttributionGraph: Sendable {
    public let tokens: [Int32]
    public let layerCount: Int
    public let nodes: [GraphNode]
    public let featureCount: Int
    public let logitCount: Int
    public let conventions: GraphConventions
    /// Row-major [count, count].
    public let adjacency: [Float]
    /// Each node's input: a feature's pre-activation less its encoder bias; a logit less the mean
    /// logit (before any final softcap); 0 for errors and embeddings, which have no inputs.
    public let inputs: [Float]
    /// The part of each input that no node carries (b_dec and zeroed positions under
    /// circuit-tracer's conventions; Qwen 2's value bias under both; otherwise 0 up to rounding
    /// under `.complete`): input = Σ row + constant.
    public let constants: [Float]

    public var count: Int { nodes.count }
    public var positionCount: Int { tokens.count }
    public var errorOffset: Int { featureCount }
    public var embeddingOffset: Int { featureCount + layerCount * positionCount }
    public var logitOffset: Int { embeddingOffset + positionCount }

    public func errorIndex(layer: Int, position: Int) -> Int { errorOffset + layer * positionCount + position }
    public func embeddingIndex(position: Int) -> Int { embeddingOffset + position }

    /// The direct effect of `source` on `target`.
    public func edge(target: Int, source: Int) -> Float { adjacency[target * count + source] }

    /// The worst completeness gap over feature and logit rows: |Σ row + constant − input| divided by
    /// max(|input|, the row's largest |edge|) (the scale at which the sum's rounding happens).
    /// `withConstants` false measures what the nodes alone leave out.
    public func worstCompletenessGap(withConstants: Bool = true) -> Double {
        var worst = 0.0
        for target in Array(0..<featureCount) + Array(logitOffset..<count) {
            let sum = incomingSum(target) + (withConstants ? Double(constants[target]) : 0)
            var magnitude = abs(Double(inputs[target]))
            for s in 0..<count { magnitude = max(magnitude, abs(Double(adjacency[target * count + s]))) }
            worst = max(worst, abs(sum - Double(inputs[target])) / max(magnitude, 1e-12))
        }
        return worst
    }

    /// Σ of a target's incoming edges, in double precision.
    public func incomingSum(_ target: Int) -> Double {
        var total = 0.0
        for s in 0..<count { total += Double(adjacency[target * count + s]) }
        return total
    }
}
