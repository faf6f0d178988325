import Analyses
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
        try OptionCheck.field(maxNewTokens, GenerateRequest.maxNewTokens)
        try OptionCheck.field(temperature, GenerateRequest.temperature)
        try OptionCheck.field(topK, GenerateRequest.topK)
        try OptionCheck.field(topP, GenerateRequest.topP, above: true)
        try OptionCheck.field(seed, GenerateRequest.seed)
        if greedy && (temperature ?? 0) > 0 { throw ValidationError("--greedy and --temperature > 0 contradict each other") }
    }

    func run() throws {
        let loaded = try model.load()
        let context = loaded.analysisContext()
        let request = GenerateRequest(prompt: try prompt.input(), maxNewTokens: maxNewTokens, temperature: greedy ? 0 : Double(temperature ?? 0),
                                      topK: greedy ? nil : topK, topP: greedy ? nil : topP.map(Double.init), seed: Int(seed), stopAtEOS: !ignoreEos)
        try request.validate(against: context)
        let continuation = try request.start(on: context)
        // Text streams to the terminal as it is generated (UTF-8 never split mid-character).
        var stream = json ? nil : loaded.tokenizer.map { StreamingDecoder(tokenizer: $0) }
        if stream != nil { writeOut(loaded.decode(continuation.prompt, skipSpecial: true)) }
        while let token = try continuation.step() {
            if stream != nil { writeOut(stream!.push(token)) }
        }
        let result = GenerateResult(continuation, model: loaded)
        if json {
            try printJSON(result)
        } else if stream != nil {
            print(stream!.finish())
        } else {
            print("prompt: \(result.ids.map(String.init).joined(separator: ","))")
            print("new:    \(result.newIDs.map(String.init).joined(separator: ","))")
        }
    }
}
