import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern graph`: the attribution graph of a prompt through a per-layer transcoder set
/// (circuit-tracer's method), pruned by influence and written in Neuronpedia's JSON.
struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Attribution graph of a prompt: features, error nodes (dark matter), embeddings and top logits, in Neuronpedia's JSON.",
        discussion: """
            Attention patterns and norm scales are frozen at the prompt's values; each MLP is replaced by its \
            transcoder's active features plus an error node (what the features leave unexplained), with gradients \
            through an MLP only along the transcoder's affine skip. One backward pass per feature and logit gives \
            its incoming direct effects. By default the error nodes hold b_dec too and no position is zeroed, so \
            every node's incoming edges sum to its input; --conventions circuit-tracer reproduces circuit-tracer's \
            nodes (b_dec outside the errors, BOS zeroed) and writes the remainder as each node's `unattributed`. \
            Needs the CPU backend (gradients).
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, parsing: .upToNextOption, help: "Transcoder folders (one per layer), or folders holding them, or one cross-layer transcoder folder (params_layer_{i}.safetensors).")
    var transcoders: [String]
    @Option(name: .long, help: "Keep the nodes carrying this share of the logits' influence.")
    var nodeThreshold: Float = 0.8
    @Option(name: .long, help: "Keep the edges carrying this share of the logits' influence.")
    var edgeThreshold: Float = 0.98
    @Option(name: .long, help: "At most this many logit nodes.")
    var maxLogits = 10
    @Option(name: .long, help: "Logit nodes until their cumulative probability reaches this.")
    var logitProbability: Float = 0.95
    @Option(name: .long, help: "At most this many feature nodes, the most influential on the logits (default: all active features).")
    var maxFeatureNodes: Int?
    @Option(name: .long, help: "Targets per backward pass (stacked copies of the prompt): speed and memory; edges move only by float32 summation order (~1e-6).")
    var batchSize = 64
    @Option(name: .long, help: "complete (b_dec in the error nodes; rows sum to inputs) or circuit-tracer.")
    var conventions = "complete"
    @Option(name: .long, help: "Write the pruned graph as Neuronpedia JSON here.")
    var out: String?
    @Option(name: .long, help: "Also write a self-contained HTML page of the pruned graph here.")
    var html: String?
    @Option(name: .long, help: "Also write the unpruned graph (adjacency, inputs, constants, node ids) as safetensors here.")
    var adjacency: String?
    @OptionGroup var corpus: CorpusOptions
    @Option(name: .long, help: "Scan this many corpus tokens for the top contexts of each feature the page shows (its hover; 0: none).")
    var contexts = 0
    @Option(name: .long, help: "The graph's slug in the JSON.")
    var slug = "lantern-graph"
    @Option(name: .long, help: "The scan in the JSON: Neuronpedia's model id (default: the model's name, e.g. gemma3-270m).")
    var scan: String?
    @Flag(name: .long, help: "Print the pruned graph's JSON (what --out writes, compact: the server's /api/graph bytes) instead of the summary.")
    var json = false

    func validate() throws {
        try OptionCheck.number(nodeThreshold, "--node-threshold", 0...1, above: true)
        try OptionCheck.number(edgeThreshold, "--edge-threshold", 0...1, above: true)
        try OptionCheck.integer(maxLogits, "--max-logits", 1...1_000_000)
        try OptionCheck.number(logitProbability, "--logit-probability", 0...1, above: true)
        try OptionCheck.integer(maxFeatureNodes, "--max-feature-nodes", 0...OptionCheck.maxCount)
        if transcoders.isEmpty { throw ValidationError("give --transcoders FOLDER ... (one transcoder folder per layer, or a folder holding them)") }
        if !["complete", "circuit-tracer"].contains(conventions) { throw ValidationError("--conventions must be complete or circuit-tracer") }
        if maxLogits < 1 { throw ValidationError("--max-logits must be ≥ 1") }
        try OptionCheck.integer(contexts, "--contexts", 0...OptionCheck.maxCount)
        if contexts > 0 && html == nil { throw ValidationError("--contexts fills the page's hovers: give --html too") }
        try OptionCheck.field(batchSize, GraphRequest.batchSize)
        if let maxFeatureNodes, maxFeatureNodes < 0 { throw ValidationError("--max-feature-nodes must be ≥ 0") }
    }

    func run() throws {
        let started = Date()
        let loaded = try model.load(manyPasses: true)
        let context = loaded.analysisContext()
        context.replacement = try TranscoderFolders.replacementModel(transcoders, loaded)
        context.noTranscoders = "give --transcoders FOLDER ..."
        var request = GraphRequest(prompt: try prompt.input())
        request.nodeThreshold = Double(nodeThreshold)
        request.edgeThreshold = Double(edgeThreshold)
        request.maxLogits = maxLogits
        request.logitProbability = Double(logitProbability)
        request.maxFeatureNodes = maxFeatureNodes
        request.batchSize = batchSize
        request.conventions = conventions
        request.slug = slug
        request.scan = scan
        try request.validate(against: context)
        let built = Date()
        let result = try request.run(on: context, monitor: AnalysisMonitor())
        if json { try printJSON(result) } else { summary(result, load: built.timeIntervalSince(started)) }
        let graph = result.graph, pruned = result.pruned, ids = result.tokens
        if let html {
            let tokens = ids.map(loaded.display)
            var set: [Transcoder] = []
            if case let .perLayer(perLayer)? = context.replacement?.transcoders { set = perLayer }
            if contexts > 0 && set.isEmpty { note("--contexts: feature contexts are scanned for per-layer transcoders only; the page has none") }
            let scan = contexts > 0 && !set.isEmpty ? try scanContexts(loaded, set) : nil
            let examples = scan.map { scan in { (layer: Int, feature: Int) in scan.contexts(layer: layer, feature: feature, text: loaded.display) } }
            try writeHTML(HTMLReport.page(title: "Attribution graph", subtitle: "\(loaded.displayName) · \(ids.count) tokens · \(loaded.decode(ids))",
                                          sections: HTMLReport.attributionGraph(graph, pruned: pruned, tokens: tokens, logitText: loaded.display,
                                                                                contexts: examples)),
                          to: html)
            if !json { print("wrote \(html)") }
        }
        if let adjacency {
            try graph.writeSafetensors(to: adjacency)
            if !json { print("wrote \(adjacency) (\(graph.count) × \(graph.count), unpruned)") }
        }
        if let out {
            try NeuronpediaGraph.data(result.object).write(to: URL(fileURLWithPath: out))
            if !json { print("wrote \(out)") }
        }
    }

    /// What the graph holds, how long attribution took, and where the dark matter sits.
    func summary(_ result: GraphResult, load: Double) {
        let graph = result.graph, pruned = result.pruned, n = result.tokens.count
        let keptNodes = pruned.nodeMask.filter { $0 }.count, keptEdges = pruned.edgeMask.filter { $0 }.count
        print("prompt: \(n) tokens; \(graph.featureCount) active features, \(graph.layerCount * n) error nodes, \(graph.logitCount) logits")
        let targets = graph.featureCount + graph.logitCount
        print(String(format: "attribution: %d targets (backward passes batched %d at a time) in %.1f s, %.2f ms a target (load %.1f s); pruned to %d nodes, %d edges",
                     targets, batchSize, result.attributionSeconds, 1000 * result.attributionSeconds / Double(max(targets, 1)), load, keptNodes, keptEdges))
        print(String(format: "completeness: every row's edges%@ sum to its input within %.1e (relative)",
                     graph.conventions == .complete ? "" : " plus its unattributed constant", graph.worstCompletenessGap()))
        print(String(format: "dark matter: %.1f%% of the logits' influence flows from error nodes (replacement score %.3f, completeness score %.3f)",
                     100 * Double(pruned.errorShare), Double(pruned.replacementScore), Double(pruned.completenessScore)))
        print("  by layer: " + pruned.errorShareByLayer.enumerated().map { String(format: "L%d %.1f%%", $0, 100 * Double($1)) }.joined(separator: "  "))
    }

    /// Every layer's transcoder over `--contexts` corpus tokens (64-token contexts), with progress.
    func scanContexts(_ loaded: LanternModel, _ set: [Transcoder]) throws -> TranscoderScan {
        let length = 64, total = (contexts + length - 1) / length
        let packer = try corpus.packer(for: loaded, length: length)
        let scan = TranscoderScan(transcoders: set, bos: packer.bos, options: TranscoderFeatureRequest.scanOptions)
        let progress = Progress(total: total, label: "feature contexts")
        var done = 0
        try packer.forEachContext { index, ids in
            try scan.add(context: ids, model: loaded.transformer)
            done = index + 1
            progress.update(done)
            return done < total
        }
        progress.finish()
        if done < total { note("the corpus ran out after \(done) contexts (\(done * length) tokens)") }
        return scan
    }
}
