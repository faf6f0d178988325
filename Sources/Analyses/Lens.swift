import Foundation
import Lantern

/// The logit lens, and the tuned lens when the context has one: every layer's residual stream read
/// through the unembedding, with the answer's rank per layer at the last position.
public struct LensRequest: AnalysisRequest {
    public static let name = "lens"
    public static let summary = "The logit lens (and the tuned lens when there is one): every layer's top tokens per position, and the answer's rank per layer at the last position."
    public static let topK = Field("top_k", .integer(1...1_000_000), limit: .topCount, default: "5", "How many top tokens to keep per cell.")
    public static let target = Field("target", .token, "A token (an id, or text that is one token) whose rank and probability to follow (default: the model's own top-1).")
    public static let fields = [Field.prompt, .tokenIDs, topK, target]

    public var prompt: PromptInput?
    public var topK = 5
    public var target: TokenInput?

    public init(prompt: PromptInput?, topK: Int = 5, target: TokenInput? = nil) {
        self.prompt = prompt
        self.topK = topK
        self.target = target
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        topK = try json.int(Self.topK) ?? topK
        target = try json.token(Self.target)
    }

    public func validate(against context: AnalysisContext) throws {
        try context.check(topK, Self.topK)
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> LensOutput {
        let ids = try context.tokens(prompt)
        let targetID = try context.token(target, Self.target)
        let result = try LogitLens.run(context.transformer, tokens: ids, topK: topK, target: targetID, tuned: context.tuned)
        return LensOutput(result, model: context.model)
    }
}

/// The lens's JSON: every row and position, the answer's rank per layer (and the tuned lens's).
/// `result` keeps the numbers for the CLI's table and page.
public struct LensOutput: Encodable, Sendable {
    public struct Token: Codable, Sendable {
        public var id: Int
        public var text: String
        public var p: Double
    }
    public struct Cell: Codable, Sendable {
        public var top: [Token]
        public var entropy: Double
        public var targetRank: Int?
        public var targetP: Double?
        enum CodingKeys: String, CodingKey { case top, entropy, targetRank = "target_rank", targetP = "target_p" }
    }
    public struct Row: Codable, Sendable {
        public var hook: String
        public var label: String
        public var positions: [Cell]
    }
    /// Where the answer appears; the `first_top_*` fields are null when it never becomes (or stays) the top-1.
    public struct Answer: Encodable, Sendable {
        public var id: Int
        public var text: String
        public var given: Bool
        public var ranks: [Int]
        public var p: [Double]
        public var firstTopRow: Int?
        public var firstTopLayer: String?
        public var hook: String?
        public var firstTopRowAny: Int?
        public var firstTopLayerAny: String?
        enum CodingKeys: String, CodingKey {
            case id, text, given, ranks, p, hook
            case firstTopRow = "first_top_row", firstTopLayer = "first_top_layer"
            case firstTopRowAny = "first_top_row_any", firstTopLayerAny = "first_top_layer_any"
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(text, forKey: .text)
            try c.encode(given, forKey: .given)
            try c.encode(ranks, forKey: .ranks)
            try c.encode(p, forKey: .p)
            // Explicit nulls: a reader tells "never the top-1" from "not computed".
            try c.encode(firstTopRow, forKey: .firstTopRow)
            try c.encode(firstTopLayer, forKey: .firstTopLayer)
            try c.encode(hook, forKey: .hook)
            try c.encode(firstTopRowAny, forKey: .firstTopRowAny)
            try c.encode(firstTopLayerAny, forKey: .firstTopLayerAny)
        }
    }
    public struct Tuned: Encodable, Sendable {
        public var source: String
        public var layers: [Row]
        public var answer: Answer
    }

    public let result: LensResult
    public var tokens: [Int]
    public var tokenText: [String]
    public var hooks: [String]
    public var layers: [Row]
    public var answer: Answer
    public var target: Int?
    public var tuned: Tuned?

    enum CodingKeys: String, CodingKey { case tokens, tokenText = "token_text", hooks, layers, answer, target, tuned }

    public init(_ r: LensResult, model: LanternModel) {
        result = r
        func rows(_ cells: [[LensCell]]) -> [Row] {
            cells.enumerated().map { row, cells in
                Row(hook: r.hookNames[row], label: r.rowLabels[row], positions: cells.map { cell in
                    let given = cell.targetRank != nil && cell.targetProbability != nil
                    return Cell(top: cell.top.map { Token(id: Int($0.token), text: model.display($0.token), p: Double($0.probability)) },
                                entropy: Double(cell.entropy), targetRank: given ? cell.targetRank : nil,
                                targetP: given ? cell.targetProbability.map(Double.init) : nil)
                })
            }
        }
        func answer(_ a: LensAnswer) -> Answer {
            Answer(id: Int(a.token), text: model.display(a.token), given: a.given, ranks: a.ranks, p: a.probabilities.map(Double.init),
                   firstTopRow: a.firstTopRow, firstTopLayer: a.firstTopRow.map { r.rowLabels[$0] }, hook: a.firstTopRow.map { r.hookNames[$0] },
                   firstTopRowAny: a.firstTopRowAny, firstTopLayerAny: a.firstTopRowAny.map { r.rowLabels[$0] })
        }
        tokens = r.tokens.map(Int.init)
        tokenText = r.tokens.map(model.display)
        hooks = r.hookNames
        layers = rows(r.cells)
        self.answer = answer(r.answer)
        target = r.target.map(Int.init)
        if let cells = r.tunedCells, let tunedAnswer = r.tunedAnswer {
            tuned = Tuned(source: r.tunedSource ?? "", layers: rows(cells), answer: answer(tunedAnswer))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(tokenText, forKey: .tokenText)
        try c.encode(hooks, forKey: .hooks)
        try c.encode(layers, forKey: .layers)
        try c.encode(answer, forKey: .answer)
        try c.encodeIfPresent(target, forKey: .target)
        try c.encodeIfPresent(tuned, forKey: .tuned)
    }
}
