import Foundation
import Lantern
import Training

/// How much of the corpus a dashboard scan reads and what it keeps (`feature`, `features top`,
/// `neuron`, `neurons top`), and the scan itself: contexts packed as rows of one forward pass,
/// every unit at a time.
public struct ScanSize: Sendable, Equatable {
    public static let tokens = Field("tokens", .integer(1...JobFields.maxCount), default: "16384", "Corpus tokens to scan (whole contexts, BOS included).")
    public static let context = Field("context", .integer(2...1 << 20), default: "128", "Tokens per context, BOS included.")
    public static let examples = Field("examples", .integer(1...1_000_000), default: "10", "Top activating contexts kept per unit.")
    public static let passRows = Field("pass_rows", .integer(0...1 << 20), default: "\(ScanSize.defaultPassRows)",
                                       "Tokens per forward pass: whole contexts packed into one pass up to this many (0, or less than a context: one context a pass). The results equal one context a pass's to float rounding, bit for bit for contexts of 8 tokens or more.")
    public static let fields = [tokens, context, examples, passRows]
    public static let defaultPassRows = 512

    public var tokens: Int
    public var context: Int
    public var examples: Int
    public var passRows: Int

    public init(tokens: Int = 16_384, context: Int = 128, examples: Int = 10, passRows: Int = ScanSize.defaultPassRows) {
        self.tokens = tokens
        self.context = context
        self.examples = examples
        self.passRows = passRows
    }

    public init(json: RequestFields) throws {
        self.init(tokens: try json.int(Self.tokens) ?? 16_384, context: try json.int(Self.context) ?? 128,
                  examples: try json.int(Self.examples) ?? 10, passRows: try json.int(Self.passRows) ?? Self.defaultPassRows)
    }

    public func validate(_ f: JobFrontEnd) throws {
        try f.check(tokens, Self.tokens)
        try f.check(context, Self.context)
        try f.check(examples, Self.examples)
        try f.check(passRows, Self.passRows)
    }

    /// Contexts per forward pass: as many whole contexts as `passRows` holds, at least one.
    public var contextsPerPass: Int { max(1, passRows / max(context, 1)) }

    public var options: FeatureScan.Options {
        var options = FeatureScan.Options()
        options.topExamples = examples
        return options
    }

    /// Scans the corpus into `scan` (and the companion SAE's scan), `contextsPerPass` contexts a
    /// pass, with progress; says so when the corpus runs out first.
    public func run(_ loaded: LanternModel, units: any ActivationUnits, into scan: FeatureScan, companion: (sae: SAE, scan: FeatureScan)? = nil,
                    packer: ContextPacker, monitor: AnalysisMonitor, _ f: JobFrontEnd) throws {
        let contexts = (tokens + context - 1) / context
        let subject = "scanning \(units.hookNames.joined(separator: " + "))", start = Date()
        var waiting: [[Int32]] = []
        func pass() throws {
            defer { waiting.removeAll(keepingCapacity: true) }
            try scan.add(contexts: waiting, model: loaded.transformer, units: units, companion: companion)
            let rate = Double(scan.contexts * context) / max(Date().timeIntervalSince(start), 1e-9)
            try monitor.step(scan.contexts, of: contexts, JobProgress.label(subject, String(format: "%.0f tokens/s", rate)))
        }
        try packer.forEachContext { index, ids in
            waiting.append(ids)
            if waiting.count == contextsPerPass || index + 1 == contexts { try pass() }
            return index + 1 < contexts
        }
        if !waiting.isEmpty { try pass() }
        guard scan.contexts > 0 else {
            throw LanternError.invalidArgument("the corpus is shorter than one \(context)-token context")
        }
        if scan.contexts < contexts { f.notice("the corpus ran out after \(scan.contexts) contexts (\(scan.contexts * context) tokens)") }
    }

    /// Every feature of `sae` over the corpus.
    public func scanFeatures(of sae: SAE, _ loaded: LanternModel, corpus: CorpusSource, monitor: AnalysisMonitor, _ f: JobFrontEnd) throws -> FeatureScan {
        let packer = try Self.source(corpus, f).packer(for: loaded, length: context)
        let scan = FeatureScan(width: sae.dSAE, bos: packer.bos, options: options)
        try run(loaded, units: sae, into: scan, packer: packer, monitor: monitor, f)
        return scan
    }

    /// Every MLP neuron of `layer` over the corpus; with `sae` (a path), that SAE read at its own
    /// hook on the same contexts, for the polysemanticity view. `unit` (a neuron to show) is
    /// refused before the scan when the layer has no such neuron.
    public func scanNeurons(layer: Int, layerField: Field, unit: Int? = nil, sae: String?, _ loaded: LanternModel, corpus: CorpusSource,
                            monitor: AnalysisMonitor, _ f: JobFrontEnd) throws -> NeuronScan {
        let layers = loaded.config.layerCount
        guard (0..<layers).contains(layer) else {
            throw LanternError.invalidArgument("\(f.name(layerField)) \(layer) is out of range: the model has \(layers) layers (0..<\(layers))")
        }
        let neurons = try MLPNeurons(layer: layer, model: loaded.transformer)
        if let unit { try neurons.checkUnit(unit) }
        let packer = try Self.source(corpus, f).packer(for: loaded, length: context)
        let scan = FeatureScan(width: neurons.width, bos: packer.bos, options: options)
        var companion: (sae: SAE, scan: FeatureScan)?
        if let sae {
            let loadedSAE = try SAE.load(path: sae, backend: loaded.backend, hook: nil)
            try loadedSAE.check(against: loaded.config)
            // The companion keeps no context windows: only its firing, for the grouping.
            var companionOptions = options
            companionOptions.before = 0
            companionOptions.after = 0
            companion = (loadedSAE, FeatureScan(width: loadedSAE.dSAE, bos: packer.bos, options: companionOptions))
        }
        try run(loaded, units: neurons, into: scan, companion: companion, packer: packer, monitor: monitor, f)
        return NeuronScan(loaded: loaded, neurons: neurons, scan: scan, companion: companion,
                          readings: companion.map { FeatureReadings(sae: $0.sae, model: loaded.transformer) })
    }

    /// The corpus with its first-use notice going where the job's notices go.
    static func source(_ corpus: CorpusSource, _ f: JobFrontEnd) -> CorpusSource {
        var source = corpus
        source.notice = f.notice
        return source
    }
}

/// One layer's neurons scanned over a corpus, and the companion SAE's scan of the same tokens.
public struct NeuronScan {
    public let loaded: LanternModel
    public let neurons: MLPNeurons
    public let scan: FeatureScan
    public let companion: (sae: SAE, scan: FeatureScan)?
    /// The companion's features' directions and promoted tokens, read once each.
    public let readings: FeatureReadings?

    /// Neuron `n`'s top contexts grouped by the companion SAE's features, with how unrelated those
    /// are (nil without an SAE); features denser than `maxDensity` do not group.
    public func polysemanticity(_ n: Int, maxDensity: Double) throws -> Polysemanticity? {
        guard let companion, let readings else { return nil }
        return try readings.measure(Polysemanticity(unit: n, examples: scan.examples(n)) { companion.scan.summary($0).density > maxDensity })
    }

    /// The `count` most polysemantic neurons (`Polysemanticity.ranked`; nil without an SAE).
    public func mostPolysemantic(maxDensity: Double, count: Int) throws -> [Polysemanticity]? {
        guard let companion, let readings else { return nil }
        return try Polysemanticity.ranked(scan: scan, companion: companion.scan, maxDensity: maxDensity, count: count, readings: readings)
    }

    /// What each group's SAE feature is, from the companion's scan.
    public func notes(_ p: Polysemanticity) throws -> [Int: GroupFeatureNote] {
        guard let companion else { return [:] }
        var notes: [Int: GroupFeatureNote] = [:]
        for f in p.groups.compactMap(\.feature) {
            notes[f] = try GroupFeatureNote(feature: f, scan: companion.scan, sae: companion.sae, model: loaded.transformer)
        }
        return notes
    }

    public var description: String {
        var s = "neurons of \(neurons.hookName), \(scan.tokens) tokens scanned (BOS left out)"
        if let c = companion { s += "; SAE \(c.sae.source) at \(c.sae.hookName) on the same tokens" }
        return s
    }
}

/// A polysemanticity grouping as JSON: how many SAE features a unit's top contexts split into,
/// and each group (with what its feature is, when the notes are given).
public struct PolysemanticityJSON: Encodable, Sendable {
    public struct Group: Encodable, Sendable {
        public var share: Double
        public var examples: [Int]
        public var feature: Int?
        public var density: Double?
        public var topTokens: [String]?
        public var promoted: [String]?
        enum CodingKeys: String, CodingKey { case share, examples, feature, density, promoted, topTokens = "top_tokens" }
    }
    public var distinctFeatures: Int
    public var effectiveFeatures: Double
    /// The effective number with the features' relatedness counted (`Unrelatedness`), and the
    /// pairwise means it reads: decoder |cos| and the Jaccard overlap of the promoted tokens.
    public var unrelatedFeatures: Double?
    public var meanAbsCosine: Double?
    public var meanPromotedJaccard: Double?
    public var coverage: Double
    public var examples: Int
    public var groups: [Group]

    public init(_ p: Polysemanticity, notes: [Int: GroupFeatureNote], model: LanternModel) {
        distinctFeatures = p.distinctFeatures
        effectiveFeatures = p.effectiveFeatures
        unrelatedFeatures = p.unrelatedness?.unrelatedFeatures
        meanAbsCosine = p.unrelatedness?.meanAbsCosine
        meanPromotedJaccard = p.unrelatedness?.meanPromotedOverlap
        coverage = p.coverage
        examples = p.examples
        groups = p.groups.map { g in
            let note = g.feature.flatMap { notes[$0] }
            return Group(share: g.share, examples: g.examples, feature: g.feature, density: note?.density,
                         topTokens: note?.topTokens.map(model.display), promoted: note?.promoted.map(model.display))
        }
    }

    enum CodingKeys: String, CodingKey {
        case coverage, examples, groups
        case distinctFeatures = "distinct_features", effectiveFeatures = "effective_features", unrelatedFeatures = "unrelated_features"
        case meanAbsCosine = "mean_abs_cosine", meanPromotedJaccard = "mean_promoted_jaccard"
    }
}

/// An SAE a job names by path, checked against the model; a mistyped hook override is the
/// request's fault, not the file's, and is said before the file is read.
enum JobSAE {
    static func load(_ path: String, hook: String?, hookField: Field, _ loaded: LanternModel, _ f: JobFrontEnd) throws -> SAE {
        if let hook, !HookNames.all(loaded.config).contains(hook) {
            throw AnalysisError.invalid(HookNames.unknown(hook, flag: f.name(hookField), in: loaded.config))
        }
        let sae = try SAE.load(path: path, backend: loaded.backend, hook: hook)
        try sae.check(against: loaded.config)
        return sae
    }
}
