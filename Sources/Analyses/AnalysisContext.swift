import Foundation
import Lantern

/// What one request may ask for. The CLI runs without limits beyond the model's own; the server
/// sets its limits so that a client cannot make it run a huge prompt or generate without end.
public struct AnalysisLimits: Sendable {
    /// Tokens in a prompt (nil: the model's context).
    public var promptTokens: Int?
    public var topCount = 1_000_000
    public var newTokens = 1 << 20
    public var steeringFeatures = Int.max
    public var steeringStrength: Float = .infinity
    /// Cells of a patching sweep (rows × positions), one forward pass each.
    public var sweepCells = Int.max
    /// An attribution graph's prompt (its nodes grow with the prompt, its adjacency with the square).
    public var graphTokens: Int?
    /// Targets per batch of backward passes in a graph.
    public var graphBatch = 4096
    public init() {}
    /// No limits but the model's.
    public static let none = AnalysisLimits()
}

/// Where analyses run: one model and what the front-end loaded beside it (SAEs, chosen by index;
/// a tuned lens; feature labels from a corpus scan). Not thread-safe: one request at a time
/// (the server runs them on its model queue).
public final class AnalysisContext: @unchecked Sendable {
    public let model: LanternModel
    public var saes: [SAE]
    public var tuned: TunedLens?
    /// The model with transcoders in place of its MLPs, for attribution graphs.
    public var replacement: ReplacementModel?
    /// Corpus contexts (BOS first, equal length) for analyses that scan a few on demand.
    public var corpusContexts: [[Int32]]?
    /// What a graph request is told when there are no transcoders.
    public var noTranscoders = "no transcoders were given: attribution graphs need them"
    /// Text prompts as UTF-8 bytes after BOS, for models without a tokenizer (the test fixtures).
    public var byteTokens: Bool
    public var limits: AnalysisLimits
    public var spelling: Spelling
    /// A finished corpus scan of SAE `index`'s features, when there is one: features then carry
    /// their density and label.
    public var featureScan: (_ index: Int) -> FeatureScan?
    /// Where `featureScan`'s scans come from, as dashboards report it.
    public var scanSource = "corpus scan"
    /// The corpus scan of one layer's MLP neurons, for neuron dashboards.
    public var neuronScan: (_ layer: Int) -> (units: MLPNeurons, scan: ScanSource)? = { _ in nil }
    /// What a request needing an SAE is told when there is none: how this front-end takes SAEs.
    public var noSAE = "no SAE was given: load one and pass it with the request"

    public init(model: LanternModel, saes: [SAE] = [], tuned: TunedLens? = nil, byteTokens: Bool = false,
                limits: AnalysisLimits = .none, spelling: Spelling = .json, featureScan: @escaping (Int) -> FeatureScan? = { _ in nil }) {
        self.model = model
        self.saes = saes
        self.tuned = tuned
        self.byteTokens = byteTokens
        self.limits = limits
        self.spelling = spelling
        self.featureScan = featureScan
    }

    public var transformer: Transformer { model.transformer }
    public var config: ModelConfig { model.config }

    /// `field` as this front-end spells it.
    public func name(_ field: Field) -> String { spelling.name(field) }

    /// Refuses a value outside the field's declared range, narrowed by the limits.
    public func check(_ value: Int, _ field: Field) throws {
        if let range = field.integers(under: limits) { try check(value, field, range) }
    }

    public func check(_ value: Double, _ field: Field) throws {
        if let range = field.numbers(under: limits) { try check(value, field, range) }
    }

    /// Refuses an integer outside `range`.
    public func check(_ value: Int, _ field: Field, _ range: ClosedRange<Int>) throws {
        guard !range.contains(value) else { return }
        throw AnalysisError.invalid("\(name(field)) \(value) is out of range: expected an integer in \(range.lowerBound)...\(range.upperBound)")
    }

    /// Refuses a number that is not finite or lies outside `range`.
    public func check(_ value: Double, _ field: Field, _ range: ClosedRange<Double>) throws {
        guard !(value.isFinite && range.contains(value)) else { return }
        throw AnalysisError.invalid("\(name(field)) must be \(Field.describe(range)), got \(value)")
    }

    /// The SAE a request names by index into the SAEs the front-end loaded (0 when not given).
    public func sae(_ index: Int?, _ field: Field) throws -> SAE {
        guard !saes.isEmpty else { throw AnalysisError(.notFound, noSAE) }
        let i = index ?? 0
        try check(i, field, 0...(saes.count - 1))
        return saes[i]
    }

    /// The prompt's ids, within the limits: `reserve` tokens of the context are kept for what the
    /// analysis generates; `limit` is a smaller cap for costly analyses.
    public func tokens(_ prompt: PromptInput?, reserve: Int = 0, limit: Int? = nil,
                       text textField: Field = .prompt, ids idsField: Field = .tokenIDs) throws -> [Int32] {
        let vocab = config.vocabSize
        var ids: [Int32]
        switch prompt {
        case nil:
            throw AnalysisError.invalid("give \(name(textField)) (text) or \(name(idsField)) (token ids)")
        case let .text(text)?:
            guard !text.isEmpty else { throw AnalysisError.invalid("\(name(textField)) must be non-empty text") }
            let cap = limits.promptTokens ?? config.contextLength
            guard text.utf8.count <= cap * 16 else {
                throw AnalysisError(.tooLarge, "\(name(textField)) is too long: \(text.utf8.count) bytes; the limit is \(cap * 16) bytes (16 for each of the \(cap) tokens a prompt may have)")
            }
            ids = model.tokenizer == nil && byteTokens ? [config.bosToken ?? 2] + text.utf8.map { Int32($0) } : try model.encode(text)
        case let .ids(list)?:
            ids = try list.map { id in
                guard id >= 0, id < vocab else {
                    throw AnalysisError.invalid("\(name(idsField)): token id \(id) is out of range: the vocabulary has \(vocab) tokens (0..<\(vocab))")
                }
                return Int32(id)
            }
        }
        guard !ids.isEmpty else { throw AnalysisError.invalid("\(name(textField)) has no tokens") }
        let served = limits.promptTokens ?? Int.max
        let cap = min(limit ?? served, served, config.contextLength - reserve)
        guard ids.count <= cap else {
            if cap == config.contextLength - reserve && cap < min(limit ?? served, served) {
                throw AnalysisError(.tooLarge, reserve > 0
                    ? "a prompt of \(ids.count) tokens plus \(reserve) new tokens exceeds the model's context of \(config.contextLength)"
                    : "the prompt is \(ids.count) tokens: it exceeds the model's context of \(config.contextLength)")
            }
            throw AnalysisError(.tooLarge, "\(name(textField)) is \(ids.count) tokens; this server takes at most \(cap)\(cap < served ? " here" : "")")
        }
        return ids
    }

    /// A token given as an id or as text that is exactly one token.
    public func token(_ input: TokenInput?, _ field: Field) throws -> Int32? {
        switch input {
        case nil: return nil
        case let .id(id)?:
            guard id >= 0, id < config.vocabSize else {
                throw AnalysisError.invalid("\(name(field)): token id \(id) is out of range: the vocabulary has \(config.vocabSize) tokens")
            }
            return Int32(id)
        case let .text(text)?:
            if let id = Int(text) { return try token(.id(id), field) }
            guard let tokenizer = model.tokenizer else { throw AnalysisError.invalid("\(name(field)): the model has no tokenizer: give an id") }
            let ids = tokenizer.encode(text, addBOS: false)
            guard ids.count == 1 else { throw AnalysisError.invalid("\(name(field)): '\(text)' is \(ids.count) tokens, not one: give an id") }
            return ids[0]
        }
    }
}
