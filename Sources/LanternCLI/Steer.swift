import Analyses
import ArgumentParser
import Foundation
import Lantern

/// `lantern steer`: baseline and steered generations side by side.
/// `lantern steer`: a group whose default subcommand (`run`) steers one prompt, so `lantern steer
/// --feature F …` works as before; `steer sweep` is a feature's steering curve with its control.
struct Steer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Steering: one prompt with and without it (the default), or a feature's curve over strengths beside random directions.",
        subcommands: [SteerRun.self, SteerSweep.self], defaultSubcommand: SteerRun.self)
}

struct SteerRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Generate with and without steering by SAE features (or a raw direction), same sampler seed.",
        discussion: "add: x += strength·W_dec[f] at the SAE's hook, every position of every step (Neuronpedia). clamp: set each feature's activation to strength, keeping the SAE's error term."
    )

    @OptionGroup var model: ModelOptions
    @Option(name: .long, help: "The SAE (Gemma Scope params.npz or SAELens directory); optional with --direction and --hook.")
    var sae: String?
    @Option(name: .long, help: "The hook to steer (default: the SAE's).")
    var hook: String?
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: "Feature ids, comma-separated.")
    var feature: String?
    @Option(name: .long, help: "A raw direction ([d_in] float32 .npy) to add, scaled by --strength.")
    var direction: String?
    @Option(name: .long, help: "Steering strength.")
    var strength: Double
    @Option(name: .long, help: "add or clamp.")
    var mode: String = "add"
    @Option(name: .long, help: "How many tokens to generate.")
    var maxNewTokens = 32
    @Option(name: .long, help: "Sampling temperature (0 = greedy).")
    var temperature: Float = 0
    @Option(name: .long, help: "Random seed, the same for both runs.")
    var seed: UInt64 = 0
    @Option(name: .long, help: "Report the probability mass steering moves onto this many of the steered features' most promoted tokens (W_dec·W_U), averaged over the prompt and the baseline continuation; 0 for none.")
    var promoted = 10
    @Option(name: .long, help: ArgumentHelp(SteerRequest.positions.help + " Comma-separated."))
    var positions: String?
    @Flag(name: .long, help: "Print one JSON object.")
    var json = false
    @Option(name: .long, help: "Also write a self-contained HTML page to this file.")
    var html: String?

    func validate() throws {
        try OptionCheck.field(strength, SteerRequest.strength)
        try OptionCheck.field(maxNewTokens, SteerRequest.maxNewTokens)
        try OptionCheck.field(temperature, SteerRequest.temperature)
        try OptionCheck.field(seed, SteerRequest.seed)
        try OptionCheck.field(promoted, SteerRequest.promoted)
    }

    func run() throws {
        guard let steeringMode = SteeringMode(rawValue: mode) else { throw ValidationError("--mode must be add or clamp") }
        let loaded = try model.load()
        let loadedSAE = try sae.map { try SAE.load(path: $0, backend: loaded.backend, hook: hook) }
        try loadedSAE?.check(against: loaded.config)
        let features = try feature.map { try integers($0, what: "--feature", distinct: true) } ?? []
        if features.isEmpty && direction == nil { throw ValidationError("give --feature or --direction") }
        let directionValues = try direction.map { path -> [Float] in
            let array = try NPYArray(path: path)
            guard array.shape.count == 1 else {
                throw LanternError.badFile(path: path, field: "array", problem: "shape \(array.shape): expected one vector [d_in] (save it with .reshape(-1))")
            }
            if let (index, value) = firstNonFinite(array.values) {
                throw LanternError.badFile(path: path, field: "array", problem: "value \(index) is \(value): a steering direction must be finite")
            }
            return array.values
        }
        let context = loaded.analysisContext(saes: loadedSAE.map { [$0] } ?? [])
        let request = SteerRequest(prompt: try prompt.input(), features: features.map { ($0, Double(strength)) }, direction: directionValues,
                                   hook: hook, strength: Double(strength), mode: steeringMode, maxNewTokens: maxNewTokens,
                                   temperature: Double(temperature), seed: Int(seed), promoted: promoted,
                                   positions: try positions.map { try integers($0, what: "--positions", distinct: true) })
        try request.validate(against: context)
        let result = try request.run(on: context, monitor: AnalysisMonitor())
        let lift = result.promotedMassBaseline.flatMap { b in result.promotedMassSteered.map { (tokens: result.promotedTokens.map(Int32.init), baseline: b, steered: $0) } }
        let ids = result.prompt.map(Int32.init), baseline = result.baseline.map(Int32.init), steered = result.steered.map(Int32.init)
        let what = (features.isEmpty ? "" : "features \(features.map(String.init).joined(separator: ","))")
            + (direction.map { " direction \($0)" } ?? "") + " \(mode) strength \(strength) at \(result.hook)"
        if let html {
            // Without a tokenizer, tokens show as #id with spaces between them.
            let separate = loaded.tokenizer == nil
            let show = { (id: Int32) in separate ? loaded.shown(id) + " " : loaded.display(id) }
            let section = HTMLReport.steering(prompt: separate ? ids.map(show).joined() : loaded.decode(ids),
                                              baseline: baseline.map(show), steered: steered.map(show),
                                              description: what + (lift.map { String(format: " · probability of the promoted tokens %@: %.4f → %.4f", $0.tokens.map { loaded.shown($0) }.joined(separator: " "), $0.baseline, $0.steered) } ?? ""))
            try writeHTML(HTMLReport.page(title: "Steering", subtitle: "\(loaded.source) · seed \(seed)", sections: [section]), to: html)
        }
        if json { return try printJSON(result) }
        print("steering: " + what.trimmingCharacters(in: .whitespaces))
        if let lift {
            print(String(format: "promoted tokens (%@): probability %.4f → %.4f steered (×%.1f)",
                         lift.tokens.map { loaded.shown($0) }.joined(separator: " "), lift.baseline, lift.steered,
                         lift.steered / max(lift.baseline, 1e-12)))
        }
        let columns = 38
        let left = wrap(result.baselineText, columns), right = wrap(result.steeredText, columns)
        print(fit("baseline", columns) + " │ steered")
        print(String(repeating: "─", count: columns) + "─┼─" + String(repeating: "─", count: columns))
        for i in 0..<max(left.count, right.count) {
            print(fit(i < left.count ? left[i] : "", columns) + " │ " + (i < right.count ? right[i] : ""))
        }
    }

    /// Splits text into lines of at most `width` characters at spaces (newlines shown as ⏎); only
    /// a word longer than a line is cut.
    func wrap(_ text: String, _ width: Int) -> [String] { wrapWords(text.replacingOccurrences(of: "\n", with: "⏎"), width) }
}
