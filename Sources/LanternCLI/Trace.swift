import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern trace`: one forward pass, with the requested hook activations and the logits saved
/// to a safetensors file that Python loads with `safetensors.numpy.load_file`.
struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a forward pass and save hook activations and logits (safetensors).",
        discussion: """
            Hook names follow TransformerLens (hook_embed, blocks.{l}.hook_resid_post, \
            blocks.{l}.attn.hook_pattern, ...); globs select several (--hooks 'blocks.*.hook_resid_post'). \
            Activations are saved as float32 [tokens, width]; attention patterns as [heads, tokens, tokens]; \
            logits as [tokens, vocab]. With --grad-target and --grad-baseline, each saved hook's gradient of the \
            logit difference is saved beside it as grad:{hook} (attention patterns have none).
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions
    @OptionGroup var gradients: GradientOptions

    @Option(name: .long, parsing: .upToNextOption, help: "Hook names or globs to save (default: none; '*' for all).")
    var hooks: [String] = []

    @Option(name: .long, help: "Output file (.safetensors); not needed with --list-hooks.")
    var out: String?

    @Flag(name: .long, help: "List the model's hook names and exit.")
    var listHooks = false

    func validate() throws {
        if out == nil && !listHooks { throw ValidationError("give --out FILE.safetensors to save the trace (or --list-hooks to see the hook names)") }
    }

    func run() throws {
        let loaded = try model.load()
        if listHooks {
            print(HookNames.all(loaded.config).joined(separator: "\n"))
            return
        }
        let context = loaded.analysisContext()
        var request = TraceRequest(prompt: try prompt.input(), hooks: hooks, out: out)
        request.gradTarget = gradients.gradTarget.map { .text($0) }
        request.gradBaseline = gradients.gradBaseline.map { .text($0) }
        request.gradPosition = gradients.gradPosition
        request.modelName = model.model ?? ModelStore.defaultModel
        try request.validate(against: context)
        let result = try request.run(on: context, monitor: AnalysisMonitor())
        if let metric = result.metric {
            note("wrote \(result.tensors.count) tensors (activations, grad:{hook} gradients; logit difference \(Float(metric))) for \(result.tokens.count) tokens to \(result.out)")
        } else {
            note("wrote \(result.tensors.count) tensors for \(result.tokens.count) tokens to \(result.out)")
        }
    }
}
