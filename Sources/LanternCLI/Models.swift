import ArgumentParser
import Foundation
import Lantern

/// `lantern models`: what is in the model cache, and what can be fetched into it.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List cached models (in $LANTERN_HOME or ~/.cache/lantern); --fetch NAME downloads one.")

    @Option(name: .long, help: "Fetch a known model into the cache (gemma3-270m, smollm2).")
    var fetch: String?

    @Flag(name: .long, help: "Print JSON: {\"cached\": [{name, path, bytes}], \"known\": [names]}.")
    var json = false

    func run() throws {
        let store = ModelStore()
        if let name = fetch {
            guard let known = ModelStore.known(name) else {
                throw LanternError.invalidArgument("unknown model '\(name)' (known: \(ModelStore.known.map(\.name).joined(separator: ", ")))")
            }
            try store.fetch(known, progress: fetchProgress)
        }
        let cached = store.models()
        if json {
            print(try jsonString([
                "cached": cached.map { ["name": $0.name, "path": $0.path, "bytes": $0.bytes] as [String: Any] },
                "known": ModelStore.known.map(\.name),
            ]))
            return
        }
        print("cache: \(store.modelsDirectory)")
        for m in cached {
            print("  \(m.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(String(format: "%7.1f MB", Double(m.bytes) / 1e6))  \(m.path)")
        }
        for k in ModelStore.known where !cached.contains(where: { $0.name == k.name }) {
            print("  \(k.name.padding(toLength: 14, withPad: " ", startingAt: 0))  (not cached: lantern models --fetch \(k.name))  \(k.summary)")
        }
    }
}
