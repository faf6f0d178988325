import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern lens`: a group whose default subcommand (`show`) is the lens of one prompt, so
/// `lantern lens --prompt P` works as before; `lens train` and `lens eval` are the tuned lens's.
struct Lens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The logit lens and the tuned lens: show one prompt (the default), train a tuned lens, or measure both.",
        subcommands: [LensShow.self, LensTrain.self, LensEval.self], defaultSubcommand: LensShow.self)
}

/// `lantern lens [show]`: the logit lens (and a tuned lens beside it) over every layer and position.
struct LensShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Read every layer's residual stream through the unembedding (the logit lens; --tuned adds a tuned lens).",
        discussion: """
            Rows: hook_embed (layer 0's resid_pre) and each layer's resid_post, through the final norm, unembedding \
            and (Gemma 2) final softcap; with --tuned, each row first through its translator. At the last position, \
            the answer's rank per layer (the --target, else the model's own top-1) and the layer from which it is \
            the top-1 and stays so. The table shows the last positions that fit 80 columns; --json has everything.
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: ArgumentHelp(LensRequest.topK))
    var topK = 5

    @Option(name: .long, help: "A token (id, or text that is one token) whose rank and probability to report.")
    var target: String?

    @Option(name: .long, help: "A tuned lens folder (config.json + params.safetensors) to show beside the logit lens.")
    var tuned: String?

    @Flag(name: .long, help: "Print all the data as one JSON object.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML heatmap to this file.")
    var html: String?

    func validate() throws {
        try OptionCheck.field(topK, LensRequest.topK)
    }

    func run() throws {
        let loaded = try model.load()
        let lens = try tuned.map { try TunedLens.load(directory: $0) }
        let context = loaded.analysisContext(tuned: lens)
        let request = LensRequest(prompt: try prompt.input(), topK: topK, target: target.map { .text($0) })
        try request.validate(against: context)
        let output = try request.run(on: context, monitor: AnalysisMonitor())
        let result = output.result, ids = result.tokens, targetID = result.target
        if let html {
            try writeHTML(HTMLReport.page(title: lens == nil ? "Logit lens" : "Logit lens and tuned lens",
                                          subtitle: "\(loaded.displayName) · prompt “\(loaded.decode(ids))” (\(ids.count) tokens) · target "
                                              + (targetID.map { "“\(loaded.shown($0))” (#\($0))" } ?? "none (the model's own top-1)"),
                                          sections: HTMLReport.lens(result, display: loaded.shown)), to: html)
        }
        if json { try printJSON(output) } else { print(LensTable.table(result, model: loaded)) }
    }
}
