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
            logit difference is saved beside it as grad:{hook} (CPU backend; attention patterns have none).
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
        let transformer = loaded.transformer
        let names = HookNames.all(layers: transformer.config.layerCount)
        if listHooks {
            print(names.joined(separator: "\n"))
            return
        }
        for pattern in hooks where !names.contains(where: { HookFilter([pattern]).matches($0) }) {
            let hint = HookNames.closest(to: pattern, layers: transformer.config.layerCount).map { "did you mean \($0)? " } ?? ""
            throw LanternError.invalidArgument("--hooks '\(pattern)' matches no hook of this model (\(hint)see --list-hooks)")
        }
        guard let out else { return }
        let tokens = try prompt.ids(for: loaded)
        if gradients.wanted {
            let (entries, metric) = try gradientEntries(loaded, tokens: tokens)
            try SafetensorsWriter.write(entries, metadata: ["tokens": tokens.map(String.init).joined(separator: ","), "metric": "\(metric)",
                                                            "model": model.model ?? ModelStore.defaultModel, "backend": transformer.backend.name], to: out)
            note("wrote \(entries.count) tensors (activations, grad:{hook} gradients; logit difference \(metric)) for \(tokens.count) tokens to \(out)")
            return
        }
        let capture = Hooks(capture: HookFilter(hooks))
        guard let logits = try transformer.forward(tokens, hooks: capture, logits: .all) else { return }
        let backend = transformer.backend
        var entries: [SafetensorsWriter.Entry] = []
        for (name, tensor) in capture.captured {
            entries.append(.init(name: name, shape: tensor.shape, values: try backend.read(tensor)))
        }
        entries.append(.init(name: "logits", shape: logits.shape, values: try backend.read(logits)))
        try SafetensorsWriter.write(entries, metadata: ["tokens": tokens.map(String.init).joined(separator: ","),
                                                        "model": model.model ?? ModelStore.defaultModel, "backend": backend.name], to: out)
        note("wrote \(entries.count) tensors for \(tokens.count) tokens to \(out)")
    }
}
