import ArgumentParser
import Foundation
import Lantern

/// `lantern tokenize`: text → ids and pieces with the model's tokenizer.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show how the model's tokenizer splits a text.")

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "The text to tokenize.")
    var text: String

    @Flag(name: .long, help: "Find special tokens (<start_of_turn>, ...) in the text.")
    var special = false

    @Flag(name: .long, help: "Print one JSON object: ids (BOS included when the model adds it) and pieces.")
    var json = false

    func run() throws {
        let loaded = try model.load()
        guard let tokenizer = loaded.tokenizer else {
            throw loaded.noTokenizer("tokenize needs one")
        }
        let ids = tokenizer.encode(text, parseSpecial: special)
        let pieces = ids.map { tokenizer.decode([$0]) }
        if json {
            print(try jsonString(["ids": ids.map(Int.init), "pieces": pieces]))
            return
        }
        for (id, piece) in zip(ids, pieces) {
            print(pad(String(id), 8) + piece.debugDescription)
        }
        note("\(ids.count) tokens")
    }
}
