import ArgumentParser
import Foundation
import Lantern

/// `lantern steer`: baseline and steered generations side by side.
struct Steer: ParsableCommand {
    static let configuration = CommandConfiguration(
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
    var strength: Float
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
    @Flag(name: .long, help: "Print one JSON object.")
    var json = false
    @Option(name: .long, help: "Also write a self-contained HTML page to this file.")
    var html: String?

    func validate() throws {
        try OptionCheck.number(strength, "--strength", -Double.infinity...Double.infinity)
        try OptionCheck.integer(maxNewTokens, "--max-new-tokens", 0...1 << 20)
        try OptionCheck.number(temperature, "--temperature", 0...Double.infinity)
        try OptionCheck.integer(promoted, "--promoted", 0...1_000_000)
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
        let steering = Steering(sae: loadedSAE, features: features, direction: directionValues, hookName: hook,
                                strength: strength, mode: steeringMode)
        let ids = try prompt.ids(for: loaded)
        let sampler = Sampler(temperature: temperature, seed: seed)
        let (baseline, steered) = try steering.compare(loaded.transformer, prompt: ids, maxNewTokens: maxNewTokens, sampler: sampler)
        var lift: (tokens: [Int32], baseline: Double, steered: Double)?
        if let loadedSAE, !features.isEmpty, promoted > 0 {
            // The tokens the summed steering direction raises most (its logit effects).
            var vector = [Float](repeating: 0, count: loadedSAE.dIn)
            for f in features { for (i, v) in try loadedSAE.direction(f).enumerated() { vector[i] += v } }
            let tokens = try LogitEffects.of(direction: vector, model: loaded.transformer, count: promoted).positive.map(\.token)
            let mass = try steering.promotedMass(loaded.transformer, text: ids + baseline.tokens, tokens: tokens)
            lift = (tokens, mass.baseline, mass.steered)
        }
        let what = (features.isEmpty ? "" : "features \(features.map(String.init).joined(separator: ","))")
            + (direction.map { " direction \($0)" } ?? "") + " \(mode) strength \(strength) at \(loadedSAE?.hookName ?? hook ?? "")"
        if let html {
            // Without a tokenizer, tokens show as #id with spaces between them.
            let separate = loaded.tokenizer == nil
            let show = { (id: Int32) in separate ? loaded.shown(id) + " " : loaded.display(id) }
            let section = HTMLReport.steering(prompt: separate ? ids.map(show).joined() : loaded.decode(ids),
                                              baseline: baseline.tokens.map(show), steered: steered.tokens.map(show),
                                              description: what + (lift.map { String(format: " · probability of the promoted tokens %@: %.4f → %.4f", $0.tokens.map { loaded.shown($0) }.joined(separator: " "), $0.baseline, $0.steered) } ?? ""))
            try writeHTML(HTMLReport.page(title: "Steering", subtitle: "\(loaded.source) · seed \(seed)", sections: [section]), to: html)
        }
        if json {
            print(try jsonString(["prompt": ids.map(Int.init), "baseline": baseline.tokens.map(Int.init),
                                  "steered": steered.tokens.map(Int.init), "baseline_text": loaded.decode(baseline.tokens),
                                  "steered_text": loaded.decode(steered.tokens), "mode": mode, "strength": Double(strength),
                                  "features": features, "promoted_tokens": lift.map { $0.tokens.map(Int.init) } ?? [],
                                  "promoted_mass_baseline": lift?.baseline ?? NSNull(), "promoted_mass_steered": lift?.steered ?? NSNull()]))
            return
        }
        print("steering: " + what.trimmingCharacters(in: .whitespaces))
        if let lift {
            print(String(format: "promoted tokens (%@): probability %.4f → %.4f steered (×%.1f)",
                         lift.tokens.map { loaded.shown($0) }.joined(separator: " "), lift.baseline, lift.steered,
                         lift.steered / max(lift.baseline, 1e-12)))
        }
        let columns = 38
        let left = wrap(loaded.decode(baseline.tokens), columns), right = wrap(loaded.decode(steered.tokens), columns)
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
