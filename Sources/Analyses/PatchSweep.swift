import Foundation
import Lantern

/// Activation patching over every matching hook × position (× head): the clean prompt run with
/// one activation taken from the corrupted prompt's run per cell; or attribution patching's
/// estimate of every cell from one backward pass; or both side by side.
public struct PatchSweepRequest: AnalysisRequest {
    public enum Method: String, Sendable, CaseIterable {
        /// One forward pass per cell.
        case activation
        /// The estimate from one backward pass (gradient × activation difference).
        case attribution
        /// Both grids, with their agreement.
        case both
    }

    public static let name = "patch sweep"
    public static let summary = "Activation patching sweep: the clean prompt with each hook × position (× head) taken from the corrupted prompt's run, normalised to 0 = corrupted and 1 = clean."
    public static let corruptedPrompt = Field("corrupted_prompt", flag: "--source-prompt", .string(choices: []), "The corrupted prompt as text (as many tokens as the clean one).")
    public static let corruptedTokenIDs = Field("corrupted_token_ids", flag: "--source-token-ids", .integers, "The corrupted prompt as token ids.")
    public static let target = Field("target", .token, "The token whose logit to watch: an id or the text of one token.")
    public static let baseline = Field("baseline", .token, "The token whose logit is subtracted (optional): an id or the text of one token.")
    public static let hooks = Field("hooks", .strings, default: "[\"blocks.*.hook_resid_pre\"]", "Hook patterns to sweep (globs, 1 to 16).")
    public static let method = Field("method", flag: "--approx", .string(choices: Method.allCases.map(\.rawValue)), default: "activation",
                                     "activation: one forward pass per cell; attribution: the estimate from one backward pass (--approx); both (--approx --compare).")
    public static let fields = [Field.prompt, .tokenIDs, corruptedPrompt, corruptedTokenIDs, target, baseline, hooks, method]

    public var prompt: PromptInput?
    public var corrupted: PromptInput?
    public var target: TokenInput?
    public var baseline: TokenInput?
    public var hooks = ["blocks.*.hook_resid_pre"]
    public var method = Method.activation

    public init(prompt: PromptInput?, corrupted: PromptInput?, target: TokenInput?, baseline: TokenInput? = nil,
                hooks: [String] = ["blocks.*.hook_resid_pre"], method: Method = .activation) {
        self.prompt = prompt
        self.corrupted = corrupted
        self.target = target
        self.baseline = baseline
        self.hooks = hooks
        self.method = method
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        corrupted = try json.prompt(text: Self.corruptedPrompt, ids: Self.corruptedTokenIDs)
        target = try json.token(Self.target)
        baseline = try json.token(Self.baseline)
        hooks = try json.strings(Self.hooks) ?? hooks
        method = try json.string(Self.method).flatMap(Method.init(rawValue:)) ?? method
    }

    public func validate(against context: AnalysisContext) throws {
        guard (1...16).contains(hooks.count), hooks.allSatisfy({ !$0.isEmpty && $0.count <= 200 }) else {
            throw AnalysisError.invalid("\(context.name(Self.hooks)) must be 1 to 16 hook patterns (globs such as blocks.*.hook_resid_pre)")
        }
        guard target != nil else {
            throw AnalysisError.invalid("give \(context.name(Self.target)), the token whose logit to watch (an id or the text of one token)")
        }
        guard corrupted != nil else {
            throw AnalysisError.invalid("a sweep needs the corrupted prompt: \(context.name(Self.corruptedPrompt)) or \(context.name(Self.corruptedTokenIDs))")
        }
    }

    /// Both prompts' ids, of equal length, and the target token: what can be refused before the
    /// sweep starts (the server answers 400 then, not an error event in the middle of a stream).
    public func prepare(on context: AnalysisContext) throws -> (clean: [Int32], corrupted: [Int32], target: Int32, baseline: Int32?) {
        let clean = try context.tokens(prompt)
        let corrupted = try context.tokens(self.corrupted, text: Self.corruptedPrompt, ids: Self.corruptedTokenIDs)
        guard clean.count == corrupted.count else {
            throw AnalysisError.invalid("the clean prompt is \(clean.count) tokens and the corrupted (source) prompt is \(corrupted.count): a patching sweep needs prompts of the same token length")
        }
        return (clean, corrupted, try context.token(target, Self.target)!, try context.token(baseline, Self.baseline))
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> PatchSweepResult {
        let (clean, corrupted, target, baseline) = try prepare(on: context)
        let sweep = try PatchingSweep(model: context.transformer, clean: clean, corrupted: corrupted,
                                      target: target, baseline: baseline)
        var result: PatchingSweepResult
        if method != .attribution {
            let cells = try sweep.families(hooks).reduce(0) { $0 + $1.rows.count } * clean.count
            guard cells <= context.limits.sweepCells else {
                throw AnalysisError(.tooLarge, "\(context.name(Self.hooks)): \(cells) cells (rows × positions); this server sweeps at most \(context.limits.sweepCells)")
            }
            result = try sweep.run(hooks) { done, total in try monitor.step(done, of: total, "patching \(total) cells") }
        } else {
            result = PatchingSweepResult(cleanTokens: clean, corruptedTokens: corrupted, target: sweep.target, baseline: sweep.baseline,
                                         cleanDifference: sweep.cleanDifference, corruptedDifference: sweep.corruptedDifference, grids: [])
        }
        if method != .activation { result.grids += try sweep.approximate(hooks) }
        return PatchSweepResult(result, model: context.model)
    }
}

/// The sweep's JSON: both prompts, the reference logit differences, every grid (an attribution
/// grid with its agreement with the real one when both ran). `result` keeps the numbers for the
/// CLI's table and page.
public struct PatchSweepResult: Encodable, Sendable {
    public struct Row: Encodable, Sendable {
        public var hook: String
        public var label: String
        public var layer: Int?
        public var head: Int?
    }
    public struct Agreement: Encodable, Sendable {
        public var correlation: Double
        public var maxAbsDifference: Double
        enum CodingKeys: String, CodingKey { case correlation, maxAbsDifference = "max_abs_difference" }
    }
    public struct Grid: Encodable, Sendable {
        public var family: String
        public var method: String
        public var rows: [Row]
        public var values: [[Double]]
        public var logitDifferences: [[Double]]
        public var agreementWithActivationPatching: Agreement?
        enum CodingKeys: String, CodingKey {
            case family, method, rows, values, logitDifferences = "logit_differences"
            case agreementWithActivationPatching = "agreement_with_activation_patching"
        }
    }

    public let result: PatchingSweepResult
    public var cleanTokens: [Int]
    public var corruptedTokens: [Int]
    public var cleanPieces: [String]
    public var corruptedPieces: [String]
    public var target: Int
    public var baseline: Int?
    public var cleanLogitDifference: Double
    public var corruptedLogitDifference: Double
    public var grids: [Grid]

    enum CodingKeys: String, CodingKey {
        case cleanTokens = "clean_tokens", corruptedTokens = "corrupted_tokens", cleanPieces = "clean_pieces", corruptedPieces = "corrupted_pieces"
        case target, baseline, grids, cleanLogitDifference = "clean_logit_difference", corruptedLogitDifference = "corrupted_logit_difference"
    }

    public init(_ s: PatchingSweepResult, model: LanternModel) {
        result = s
        cleanTokens = s.cleanTokens.map(Int.init)
        corruptedTokens = s.corruptedTokens.map(Int.init)
        cleanPieces = s.cleanTokens.map(model.display)
        corruptedPieces = s.corruptedTokens.map(model.display)
        target = Int(s.target)
        baseline = s.baseline.map(Int.init)
        cleanLogitDifference = Double(s.cleanDifference)
        corruptedLogitDifference = Double(s.corruptedDifference)
        grids = s.grids.map { g in
            var agreement: Agreement?
            if g.method == .attribution, let real = s.grid(family: g.family), let (r, worst) = try? g.agreement(with: real) {
                agreement = Agreement(correlation: r, maxAbsDifference: worst)
            }
            return Grid(family: g.family, method: g.method.rawValue,
                        rows: g.rows.map { Row(hook: $0.hook, label: $0.label, layer: $0.layer, head: $0.head) },
                        values: g.values.map { $0.map(Double.init) }, logitDifferences: g.logitDifferences.map { $0.map(Double.init) },
                        agreementWithActivationPatching: agreement)
        }
    }
}
