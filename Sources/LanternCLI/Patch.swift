import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern patch`: a group whose default subcommand (`one`) ablates or patches one hook, so
/// `lantern patch --hook H ...` works as before; `patch sweep` patches every hook × position.
struct Patch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ablate or patch one hook (the default), or sweep patching over hooks × positions (× heads).",
        subcommands: [PatchOne.self, PatchSweepCommand.self], defaultSubcommand: PatchOne.self)
}

/// `lantern patch [one]`: ablate or patch one hook and see the target token's logit move.
struct PatchOne: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "one",
        abstract: "Zero- or mean-ablate a hook, or patch it from a second prompt; report the target logit change at the last position."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: "The hook to change (e.g. blocks.3.hook_resid_post).")
    var hook: String
    @Option(name: .long, help: "zero, mean, or patch (needs --source-prompt or --source-token-ids).")
    var mode: String = "zero"
    @Option(name: .long, help: "Positions to change, comma-separated (default: all).")
    var positions: String?
    @Option(name: .long, help: "The token whose logit to watch (id, or text that is one token).")
    var target: String
    @Option(name: .long, help: "The prompt to patch activations from, as text.")
    var sourcePrompt: String?
    @Option(name: .customLong("source-token-ids"), help: "The prompt to patch activations from, as token ids.")
    var sourceTokens: String?
    @Option(name: .customLong("source-tokens"), help: .hidden)
    var oldSourceTokens: String?
    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func validate() throws {
        if let oldSourceTokens { throw ValidationError("--source-tokens is now --source-token-ids \(oldSourceTokens) (--tokens is a count of tokens everywhere)") }
        if sourcePrompt != nil && sourceTokens != nil { throw ValidationError("give --source-prompt or --source-token-ids, not both") }
    }

    func run() throws {
        guard let patchMode = PatchRequest.Mode(rawValue: mode) else { throw ValidationError("--mode must be zero, mean or patch") }
        let loaded = try model.load()
        let context = loaded.analysisContext()
        let source: PromptInput? = try sourcePrompt.map { .text($0) } ?? sourceTokens.map { .ids(try PromptOptions.tokenIDs(from: $0, option: "--source-token-ids").map(Int.init)) }
        let request = PatchRequest(prompt: try prompt.input(), hook: hook, mode: patchMode,
                                   positions: try positions.map { try integers($0, what: "--positions", distinct: true) },
                                   target: .text(target), source: source)
        try request.validate(against: context)
        let r = try request.run(on: context, monitor: AnalysisMonitor())
        if json { return try printJSON(r) }
        print("\(mode) \(hook)\(request.positions.map { " at positions \($0.map(String.init).joined(separator: ","))" } ?? ""): target \(loaded.shown(Int32(r.target))) (#\(r.target))")
        print(String(format: "logit %.4f → %.4f (change %+.4f); p %.4f → %.4f", r.cleanLogit, r.patchedLogit, r.logitChange, r.cleanP, r.patchedP))
    }
}

extension PromptOptions {
    /// Comma-separated token ids from any option.
    static func tokenIDs(from text: String, option: String) throws -> [Int32] {
        try integers(text, what: option).map { Int32(clamping: $0) }
    }
}
