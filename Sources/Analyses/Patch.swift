import Foundation
import Lantern

/// One hook zero- or mean-ablated, or patched from a second prompt's run, and the target token's
/// logit and probability at the last position before and after.
public struct PatchRequest: AnalysisRequest {
    public enum Mode: String, Sendable, CaseIterable { case zero, mean, patch }

    public static let name = "patch"
    public static let summary = "Zero- or mean-ablate one hook, or patch it from a second prompt's run; the target token's logit and probability at the last position before and after."
    public static let hook = Field("hook", .string(choices: []), "The hook to change (e.g. blocks.3.hook_resid_post).")
    public static let mode = Field("mode", .string(choices: Mode.allCases.map(\.rawValue)), default: "zero", "zero, mean, or patch (needs the source prompt).")
    public static let positions = Field("positions", .integers, default: "all", "The positions to change.")
    public static let target = Field("target", .token, "The token whose logit to watch: an id or the text of one token.")
    public static let sourcePrompt = Field("source_prompt", .string(choices: []), "The prompt to patch activations from, as text.")
    public static let sourceTokenIDs = Field("source_token_ids", .integers, "The prompt to patch activations from, as token ids.")
    public static let fields = [Field.prompt, .tokenIDs, hook, mode, positions, target, sourcePrompt, sourceTokenIDs]

    public var prompt: PromptInput?
    public var hook: String?
    public var mode = Mode.zero
    public var positions: [Int]?
    public var target: TokenInput?
    public var source: PromptInput?

    public init(prompt: PromptInput?, hook: String?, mode: Mode = .zero, positions: [Int]? = nil, target: TokenInput?, source: PromptInput? = nil) {
        self.prompt = prompt
        self.hook = hook
        self.mode = mode
        self.positions = positions
        self.target = target
        self.source = source
    }

    public init(json: RequestFields) throws {
        try json.requireKnown(Self.fields)
        prompt = try json.prompt()
        hook = try json.string(Self.hook)
        mode = try json.string(Self.mode).flatMap(Mode.init(rawValue:)) ?? mode
        positions = try json.ints(Self.positions)
        target = try json.token(Self.target)
        source = try json.prompt(text: Self.sourcePrompt, ids: Self.sourceTokenIDs)
    }

    public func validate(against context: AnalysisContext) throws {
        guard hook != nil else { throw AnalysisError.invalid("give \(context.name(Self.hook)), the hook to change") }
        guard target != nil else { throw AnalysisError.invalid("give \(context.name(Self.target)), the token whose logit to watch") }
        if mode == .patch && source == nil {
            throw AnalysisError.invalid("\(context.name(Self.mode)) patch needs \(context.name(Self.sourcePrompt)) or \(context.name(Self.sourceTokenIDs))")
        }
        if let positions, let twice = positions.enumerated().first(where: { positions[..<$0.offset].contains($0.element) })?.element {
            throw AnalysisError.invalid("\(context.name(Self.positions)) names \(twice) twice")
        }
    }

    public func run(on context: AnalysisContext, monitor: AnalysisMonitor) throws -> PatchResult {
        let ids = try context.tokens(prompt)
        let targetID = try context.token(target, Self.target)!
        let hook = self.hook!
        let effect: PatchEffect
        switch mode {
        case .zero, .mean:
            effect = try Patching.ablate(context.transformer, tokens: ids, hook: hook, kind: AblationKind(rawValue: mode.rawValue)!,
                                         positions: positions, target: targetID)
        case .patch:
            let from = try context.tokens(source, text: Self.sourcePrompt, ids: Self.sourceTokenIDs)
            effect = try Patching.patch(context.transformer, tokens: ids, from: from, hook: hook, positions: positions, target: targetID)
        }
        return PatchResult(hook: hook, mode: mode.rawValue, target: Int(targetID), cleanLogit: Double(effect.cleanLogit),
                           patchedLogit: Double(effect.patchedLogit), logitChange: Double(effect.logitChange),
                           cleanP: Double(effect.cleanProbability), patchedP: Double(effect.patchedProbability))
    }
}

public struct PatchResult: Codable, Sendable {
    public var hook: String
    public var mode: String
    public var target: Int
    public var cleanLogit: Double
    public var patchedLogit: Double
    public var logitChange: Double
    public var cleanP: Double
    public var patchedP: Double
    enum CodingKeys: String, CodingKey {
        case hook, mode, target, cleanLogit = "clean_logit", patchedLogit = "patched_logit", logitChange = "logit_change"
        case cleanP = "clean_p", patchedP = "patched_p"
    }
}
