import Foundation
import Lantern

/// The attribution graph of a prompt through the context's transcoders (circuit-tracer's
/// method): features, error nodes (the dark matter), embeddings and top logits, pruned by
/// influence, in Neuronpedia's JSON.
public struct GraphRequest: AnalysisRequest {
    public static let name = "graph"
    public static let summary = "Attribution graph through the transcoders (Neuronpedia's schema; metadata.lantern has the dark-matter share), computed one batch of backward passes at a time."
    public static let nodeThreshold = Field("node_threshold", .number(0...1), default: "0.8", "Keep the nodes carrying this share of the logits' influence.")
    public static let edgeThreshold = Field("edge_threshold", .number(0...1), default: "0.98", "Keep the edges carrying this share of the logits' influence.")
    public static let maxLogits = Field("max_logits", .integer(1...1_000_000), limit: .topCount, default: "10", "At most this many logit nodes.")
    public static let logitProbability = Field("logit_probability", .number(0...1), default: "0.95", "Logit nodes until their cumulative probability reaches this.")
    public static let maxFeatureNodes = Field("max_feature_nodes", .integer(0...(1 << 40)), default: "all active features", "At most this many feature nodes, the most influential on the logits.")
    public static let batchSize = Field("batch_size", .integer(1...4096), limit: .graphBatch, default: "64", "Targets per backward pass (stacked copies of the prompt): speed and memory; edges move only by float32 summation order (~1e-6).")
    public static let conventions = Field("conventions", .string(choices: ["complete", "circuit-tracer"]), default: "complete",
                                          "complete: b_dec in the error nodes, rows sum to their inputs; circuit-tracer: its nodes (b_dec outside the errors, BOS zeroed).")
    public static let slug = Field("slug", .string(choices: []), default: "lantern-graph", "The graph's slug in the JSON.")
    public static let scan = Field("scan", .string(choices: []), default: "the model's name", "The scan in the JSON: Neuronpedia's model id.")
    public static let fields = [Field.prompt, .tokenIDs, nodeThreshold, edgeThreshold, maxLogits, logitProbability, maxFeatureNodes, batchSize,
                                conventions, slug, scan]

    public var prompt: PromptInput?
    public var nodeThreshold = 0.8
    public var edgeThreshold = 0.98
    public var maxLogits = 10
    public var logitProbability = 0.95
    public var maxFeatureNodes: Int?
    public var batchSize = 64
    public var conventions = "complete"
    public var slug = "lantern-graph"
    public var scan: String?

    public init(prompt: PromptInput?) { self.prompt = prompt }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        nodeThreshold = try json.double(Self.nodeThreshold) ?? nodeThreshold
        edgeThreshold = try json.double(Self.edgeThreshold) ?? edgeThreshold
        maxLogits = try json.int(Self.maxLogits) ?? maxLogits
        logitProbability = try json.double(Self.logitProbability) ?? logitProbability
        maxFeatureNodes = try json.int(Self.maxFeatureNodes)
        batchSize = try json.int(Self.batchSize) ?? batchSize
        conventions = try json.string(Self.conventions) ?? conventions
        slug = try json.string(Self.slug) ?? slug
        scan = try json.string(Self.scan)
    }

    public func validate(against context: AnalysisContext) throws {
        for (value, field) in [(nodeThreshold, Self.nodeThreshold), (edgeThreshold, Self.edgeThreshold), (logitProbability, Self.logitProbability)] {
            try context.check(value, field)
            guard value > 0 else { throw AnalysisError.invalid("\(context.name(field)) must be in (0, 1], got 0") }
        }
        try context.check(maxLogits, Self.maxLogits)
        if let maxFeatureNodes { try context.check(maxFeatureNodes, Self.maxFeatureNodes) }
        try context.check(batchSize, Self.batchSize)
        guard slug.count <= 200 else { throw AnalysisError.invalid("\(context.name(Self.slug)) must be at most 200 characters") }
        guard context.replacement != nil else { throw AnalysisError(.notFound, context.noTranscoders) }
    }

    public var options: GraphOptions {
        GraphOptions(maxLogits: maxLogits, logitProbability: Float(logitProbability), conventions: conventions == "complete" ? .complete : .circuitTracer,
                     maxFeatureNodes: maxFeatureNodes, batchSize: batchSize)
    }

    /// The prompt's ids within the graph's token limit: refused before the work starts.
    public func tokens(on context: AnalysisContext) throws -> [Int32] {
        try context.tokens(prompt, limit: context.limits.graphTokens)
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> GraphResult {
        guard let replacement = context.replacement else { throw AnalysisError(.notFound, context.noTranscoders) }
        let ids = try tokens(on: context)
        let started = Date()
        let graph = try replacement.graph(tokens: ids, options: options) { done, total in try monitor.step(done, of: total, "attribution targets") }
        let seconds = Date().timeIntervalSince(started)
        let pruned = try graph.pruned(nodeThreshold: Float(nodeThreshold), edgeThreshold: Float(edgeThreshold))
        let model = context.model
        let object = NeuronpediaGraph.object(graph, pruned: pruned, slug: slug, scan: scan ?? model.displayName, prompt: model.decode(ids),
                                             nodeThreshold: Float(nodeThreshold), edgeThreshold: Float(edgeThreshold), options: options,
                                             tokenText: model.display)
        return GraphResult(tokens: ids, graph: graph, pruned: pruned, object: object, attributionSeconds: seconds)
    }
}

/// The pruned graph in Neuronpedia's schema (`object`, the JSON); the full graph and the pruning
/// for the CLI's summary, page and adjacency file.
public struct GraphResult: Encodable, @unchecked Sendable {
    public let tokens: [Int32]
    public let graph: AttributionGraph
    public let pruned: PrunedGraph
    public let object: [String: Any]
    public let attributionSeconds: Double

    public func encode(to encoder: any Encoder) throws { try JSONAny(object).encode(to: encoder) }
}
