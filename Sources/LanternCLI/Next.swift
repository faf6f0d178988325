import ArgumentParser
import Foundation
import Lantern

/// `lantern next`: the most likely next tokens after a prompt, with probabilities.
struct Next: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the most likely next tokens after a prompt.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var prompt: PromptOptions

    @Option(name: .long, help: "How many tokens to show.")
    var top = 10

    @Flag(name: .long, help: "Print JSON: ids, and top as a list of {id, token, prob, logit}.")
    var json = false

    func validate() throws {
        try OptionCheck.integer(top, "--top", 1...1_000_000)
    }

    func run() throws {
        let loaded = try model.load()
        let ids = try prompt.ids(for: loaded)
        guard let out = try loaded.transformer.forward(ids, logits: .last) else { return }
        let logits = try loaded.backend.read(out)
        try loaded.transformer.requireFinite(logits: logits, tokens: ids)
        let probs = LogitLens.softmax(logits)
        let order = Ranking.largest(max(0, top), of: probs)  // the stable sort's first k, without sorting 262k entries
        if json {
            let rows: [[String: Any]] = order.map {
                ["id": $0, "token": loaded.display(Int32($0)), "prob": Double(probs[$0]), "logit": Double(logits[$0])]
            }
            print(try jsonString(["ids": ids.map(Int.init), "top": rows]))
            return
        }
        print("after \(loaded.decode(ids).debugDescription) (\(ids.count) tokens):")
        for (rank, id) in order.enumerated() {
            let bar = String(repeating: "█", count: Int((probs[id] * 40).rounded()))
            print(pad("\(rank + 1).", 4) + pad(loaded.display(Int32(id)).debugDescription, 18)
                  + pad(String(format: "%6.2f%%", probs[id] * 100), 9) + bar)
        }
    }
}
