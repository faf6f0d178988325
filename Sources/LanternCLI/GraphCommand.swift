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
        if batchSize < 1 || batchSize > 4096 { throw ValidationError("--batch-size must be between 1 and 4096") }
        if let maxFeatureNodes, maxFeatureNodes < 0 { throw ValidationError("--max-feature-nodes must be ≥ 0") }
    }

    func run() throws {
        let started = Date()
        let loaded = try model.load(manyPasses: true)
        let ids = try prompt.ids(for: loaded)
        let replacement = try Self.replacementModel(transcoders, loaded)
        let set: [Transcoder]
        if case let .perLayer(perLayer) = replacement.transcoders { set = perLayer } else { set = [] }
        let options = GraphOptions(maxLogits: maxLogits, logitProbability: logitProbability,
                                   conventions: conventions == "complete" ? .complete : .circuitTracer, maxFeatureNodes: maxFeatureNodes,
                                   batchSize: batchSize)
        let built = Date()
        let graph = try replacement.graph(tokens: ids, options: options)
        let attributed = Date()
        let pruned = try graph.pruned(nodeThreshold: nodeThreshold, edgeThreshold: edgeThreshold)
        let keptNodes = pruned.nodeMask.filter { $0 }.count, keptEdges = pruned.edgeMask.filter { $0 }.count
        print("prompt: \(ids.count) tokens; \(graph.featureCount) active features, \(graph.layerCount * ids.count) error nodes, \(graph.logitCount) logits")
        let targets = graph.featureCount + graph.logitCount
        print(String(format: "attribution: %d targets (backward passes batched %d at a time) in %.1f s, %.2f ms a target (load %.1f s); pruned to %d nodes, %d edges",
                     targets, batchSize, attributed.timeIntervalSince(built), 1000 * attributed.timeIntervalSince(built) / Double(max(targets, 1)),
                     built.timeIntervalSince(started), keptNodes, keptEdges))
        print(String(format: "completeness: every row's edges%@ sum to its input within %.1e (relative)",
                     graph.conventions == .complete ? "" : " plus its unattributed constant", graph.worstCompletenessGap()))
        print(String(format: "dark matter: %.1f%% of the logits' influence flows from error nodes (replacement score %.3f, completeness score %.3f)",
                     100 * Double(pruned.errorShare), Double(pruned.replacementScore), Double(pruned.completenessScore)))
        print("  by layer: " + pruned.errorShareByLayer.enumerated().map { String(format: "L%d %.1f%%", $0, 100 * Double($1)) }.joined(separator: "  "))
        if let html {
            let tokens = ids.map(loaded.display)
            if contexts > 0 && set.isEmpty { note("--contexts: feature contexts are scanned for per-layer transcoders only; the page has none") }
            let scan = contexts > 0 && !set.isEmpty ? try scanContexts(loaded, set) : nil
            let examples = scan.map { scan in { (layer: Int, feature: Int) in scan.contexts(layer: layer, feature: feature, text: loaded.display) } }
            try writeHTML(HTMLReport.page(title: "Attribution graph", subtitle: "\(loaded.displayName) · \(ids.count) tokens · \(loaded.decode(ids))",
                                          sections: HTMLReport.attributionGraph(graph, pruned: pruned, tokens: tokens, logitText: loaded.display,
                                                                                contexts: examples)),
                          to: html)
            print("wrote \(html)")
        }
        if let adjacency {
            try graph.writeSafetensors(to: adjacency)
            print("wrote \(adjacency) (\(graph.count) × \(graph.count), unpruned)")
        }
        if let out {
            let object = NeuronpediaGraph.object(graph, pruned: pruned, slug: slug, scan: scan ?? loaded.displayName, prompt: loaded.decode(ids),
                                                 nodeThreshold: nodeThreshold, edgeThreshold: edgeThreshold, options: options,
                                                 tokenText: loaded.display)
            try NeuronpediaGraph.data(object).write(to: URL(fileURLWithPath: out))
            print("wrote \(out)")
        }
    }

    /// The model with the transcoders of `--transcoders` (per-layer folders, folders holding them,
    /// or one cross-layer transcoder folder); `lantern serve --transcoders` loads them the same way.
    static func replacementModel(_ transcoders: [String], _ loaded: LanternModel) throws -> ReplacementModel {
        if transcoders.count == 1, GemmaScope2.isCrossLayerFolder(transcoders[0]) {
            let clt = try GemmaScope2.loadCrossLayerTranscoder(directory: transcoders[0], backend: loaded.backend)
            return try ReplacementModel(model: loaded.transformer, crossLayer: clt)
        }
        let set = try transcoders.flatMap(TranscoderEval.transcoderFolders).map { try GemmaScope2.loadTranscoder(directory: $0, backend: loaded.backend) }
            .sorted { ($0.config.layer ?? -1) < ($1.config.layer ?? -1) }
        return try ReplacementModel(model: loaded.transformer, transcoders: set)
    }

    /// Every layer's transcoder over `--contexts` corpus tokens (64-token contexts), with progress.
    func scanContexts(_ loaded: LanternModel, _ set: [Transcoder]) throws -> TranscoderScan {
        let length = 64, total = (contexts + length - 1) / length
        let packer = try corpus.packer(for: loaded, length: length)
        var options = FeatureScan.Options()
        options.topExamples = 3
        options.before = 12
        options.after = 3
        let scan = TranscoderScan(transcoders: set, bos: packer.bos, options: options)
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
