import ArgumentParser
import Foundation
import Lantern

/// `lantern generate`: continue a prompt with the KV cache.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a prompt (greedy or sampled).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: "How many tokens to generate at most.")
    var maxNewTokens = 32

    @Flag(name: .long, help: "Always take the most likely token (the default unless --temperature is given).")
    var greedy = false

    @Option(name: .long, help: "Sampling temperature (0 = greedy).")
    var temperature: Float?

    @Option(name: .long, help: "Sample only among the k most likely tokens.")
    var topK: Int?

    @Option(name: .long, help: "Sample only among the most likely tokens whose probability adds up to p.")
    var topP: Float?

    @Option(name: .long, help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Keep going past end-of-sequence tokens.")
    var ignoreEos = false

    @Flag(name: .long, help: "Print one JSON object: ids (prompt), new_ids.")
    var json = false

    func validate() throws {
        if greedy && (temperature ?? 0) > 0 { throw ValidationError("--greedy and --temperature > 0 contradict each other") }
        if maxNewTokens < 0 { throw ValidationError("--max-new-tokens must be ≥ 0") }
    }

    func run() throws {
        let transformer = try model.load()
        let ids = try prompt.ids()
        let sampler = greedy ? Sampler.greedy
            : Sampler(temperature: temperature ?? 0, topK: topK, topP: topP, seed: seed)
        let result = try transformer.generate(prompt: ids, maxNewTokens: maxNewTokens, sampler: sampler,
                                              stopAtEOS: !ignoreEos)
        if json {
            print(try jsonString(["ids": result.prompt.map(Int.init), "new_ids": result.tokens.map(Int.init)]))
        } else {
            print("prompt: \(result.prompt.map(String.init).joined(separator: ","))")
            print("new:    \(result.tokens.map(String.init).joined(separator: ","))")
        }
    }
}
