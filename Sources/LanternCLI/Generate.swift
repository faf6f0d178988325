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
        try OptionCheck.integer(maxNewTokens, "--max-new-tokens", 0...1 << 20)
        try OptionCheck.number(temperature, "--temperature", 0...Double.infinity)
        try OptionCheck.integer(topK, "--top-k", 1...1 << 30)
        try OptionCheck.number(topP, "--top-p", 0...1, above: true)
        if greedy && (temperature ?? 0) > 0 { throw ValidationError("--greedy and --temperature > 0 contradict each other") }
        if maxNewTokens < 0 { throw ValidationError("--max-new-tokens must be ≥ 0") }
    }

    func run() throws {
        let loaded = try model.load()
        let ids = try prompt.ids(for: loaded)
        let sampler = greedy ? Sampler.greedy
            : Sampler(temperature: temperature ?? 0, topK: topK, topP: topP, seed: seed)
        // Text streams to the terminal as it is generated (UTF-8 never split mid-character).
        var stream = loaded.tokenizer.map { StreamingDecoder(tokenizer: $0) }
        if !json, stream != nil { writeOut(loaded.decode(ids, skipSpecial: true)) }
        let result = try loaded.transformer.generate(prompt: ids, maxNewTokens: maxNewTokens, sampler: sampler,
                                                     stopAtEOS: !ignoreEos) { token in
            guard !json, stream != nil else { return }
            writeOut(stream!.push(token))
        }
        if json {
            var object: [String: Any] = ["ids": result.prompt.map(Int.init), "new_ids": result.tokens.map(Int.init)]
            if loaded.tokenizer != nil { object["text"] = loaded.decode(result.tokens) }
            print(try jsonString(object))
        } else if stream != nil {
            print(stream!.finish())
        } else {
            print("prompt: \(result.prompt.map(String.init).joined(separator: ","))")
            print("new:    \(result.tokens.map(String.init).joined(separator: ","))")
        }
    }
}
