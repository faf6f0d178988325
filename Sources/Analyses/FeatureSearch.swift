import Foundation
import Lantern

/// SAE features found by what they fire on: the query's text is looked for in every feature's top
/// contexts of a corpus scan, and a feature scores the sum, over its contexts that contain the
/// text, of its strongest activation on the tokens the text covers (case-insensitive). Highest
/// score first (ties: higher maximum, then lower id), each with its density, maximum and
/// activation histogram, and the context where it fires hardest on the text.
public struct FeatureSearchRequest: AnalysisRequest {
    public static let name = "feature search"
    public static let summary = "SAE features whose top contexts in a corpus scan fire on a text, ranked by their activation on it, with density and histogram."
    public static let sae = FeaturesRequest.sae
    public static let query = Field("query", .string(choices: []), "The text to look for in the features' top contexts (case-insensitive; one token or several).")
    public static let top = Field("top", .integer(1...1_000_000), limit: .topCount, default: "20", "How many features to list.")
    public static let fields = [sae, query, top]

    public var sae: Int?
    public var query: String
    public var top = 20

    public init(sae: Int? = nil, query: String, top: Int = 20) {
        self.sae = sae
        self.query = query
        self.top = top
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        try json.refusePath(Self.sae)
        sae = try json.int(Self.sae)
        query = try json.string(Self.query) ?? ""
        top = try json.int(Self.top) ?? top
    }

    public func validate(against context: AnalysisContext) throws {
        _ = try context.sae(sae, Self.sae)
        guard !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw AnalysisError.invalid("give \(context.name(Self.query)), the non-empty text to look for")
        }
        guard query.utf8.count <= 256 else {
            throw AnalysisError(.tooLarge, "\(context.name(Self.query)) is \(query.utf8.count) bytes; the limit is 256")
        }
        try context.check(top, Self.top)
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> FeatureSearchResult {
        guard let scan = context.featureScan(sae ?? 0) else {
            throw AnalysisError(.notFound, "no corpus scan of the SAE's features to search")
        }
        return try run(on: context, scan: ScanSource(scan: scan, source: context.scanSource))
    }

    /// The search over `scanned` (the server's on-demand scan while its background scan runs).
    public func run(on context: AnalysisContext, scan scanned: ScanSource) throws -> FeatureSearchResult {
        let loaded = try context.sae(sae, Self.sae)
        let scan = scanned.scan, needle = query.lowercased()
        var texts: [Int32: String] = [:]
        func text(_ id: Int32) -> String {
            if let t = texts[id] { return t }
            let t = context.model.display(id).lowercased()
            texts[id] = t
            return t
        }
        var found: [(score: Double, best: Double, example: FeatureExample, summary: FeatureSummary)] = []
        for f in 0..<scan.width {
            var score = 0.0, best = -1.0, bestExample: FeatureExample?
            for example in scan.examples(f) {
                // The window's text with each character's token, then every occurrence of the query.
                var joined = "", owner: [Int] = []
                for (i, id) in example.tokens.enumerated() {
                    let piece = text(id)
                    joined += piece
                    owner += Array(repeating: i, count: piece.count)
                }
                var strongest = -1.0, from = joined.startIndex
                while let hit = joined.range(of: needle, range: from..<joined.endIndex) {
                    let start = joined.distance(from: joined.startIndex, to: hit.lowerBound)
                    // Characters can merge across a token boundary: clamp to the last token.
                    let first = owner[min(start, owner.count - 1)], last = owner[min(start + needle.count - 1, owner.count - 1)]
                    for i in first...max(first, last) { strongest = max(strongest, Double(example.activations[i])) }
                    from = joined.index(after: hit.lowerBound)
                }
                guard strongest > 0 else { continue }
                score += strongest
                if strongest > best { best = strongest; bestExample = example }
            }
            if let bestExample { found.append((score, best, bestExample, scan.summary(f))) }
        }
        found.sort { a, b in
            a.score != b.score ? a.score > b.score
                : a.summary.maxActivation != b.summary.maxActivation ? a.summary.maxActivation > b.summary.maxActivation : a.summary.feature < b.summary.feature
        }
        let entries = found.prefix(top).map { f in
            let h = scan.histogram(f.summary.feature, bins: 16)
            return FeatureSearchResult.Entry(
                feature: f.summary.feature, score: f.score, density: f.summary.density, maxActivation: Double(f.summary.maxActivation),
                meanActivation: f.summary.meanActivation,
                histogram: .init(lower: Double(h.lower), upper: Double(h.upper), counts: h.counts, sampled: h.sampled),
                example: .init(context: f.example.context, position: f.example.position, windowStart: f.example.windowStart,
                               maxActivation: Double(f.example.maxActivation), tokens: f.example.tokens.map(Int.init),
                               text: f.example.tokens.map(context.model.display), activations: f.example.activations.map(Double.init)))
        }
        return FeatureSearchResult(sae: loaded.source, hook: loaded.hookName, query: query, source: scanned.source,
                                   scannedTokens: scan.tokens, matched: found.count, results: Array(entries))
    }
}

public struct FeatureSearchResult: Encodable, Sendable {
    public struct Entry: Encodable, Sendable {
        public var feature: Int
        public var score: Double
        public var density: Double
        public var maxActivation: Double
        public var meanActivation: Double
        public var histogram: DashboardJSON.Histogram
        public var example: DashboardJSON.Example
        enum CodingKeys: String, CodingKey {
            case feature, score, density, histogram, example, maxActivation = "max_activation", meanActivation = "mean_activation"
        }
    }
    public var sae: String
    public var hook: String
    public var query: String
    public var source: String
    public var scannedTokens: Int
    /// How many features fire on the query in their top contexts (the results are the first `top`).
    public var matched: Int
    public var results: [Entry]
    enum CodingKeys: String, CodingKey { case sae, hook, query, source, matched, results, scannedTokens = "scanned_tokens" }
}
