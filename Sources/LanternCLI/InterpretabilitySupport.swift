import ArgumentParser
import Foundation
import Lantern

/// Which SAE a command reads.
struct SAEOptions: ParsableArguments {
    @Option(name: .long, help: "A Gemma Scope params.npz (or its directory), a Gemma Scope 2 folder (params.safetensors + config.json) or a SAELens directory (cfg.json + sae_weights.safetensors).")
    var sae: String

    @Option(name: .long, help: "The hook the SAE reads, overriding its own (e.g. blocks.20.hook_resid_post).")
    var hook: String?

    /// Loads the SAE and refuses it unless it fits the model.
    func load(for model: LanternModel) throws -> SAE {
        let loaded = try SAE.load(path: sae, backend: model.backend, hook: hook)
        try loaded.check(against: model.config)
        return loaded
    }
}

extension LanternModel {
    /// A token given as an id or as text that is exactly one token.
    func tokenID(_ text: String) throws -> Int32 {
        if let id = Int32(text) {
            guard id >= 0, Int(id) < config.vocabSize else {
                throw LanternError.invalidArgument("token id \(id) is out of range: the vocabulary has \(config.vocabSize) tokens")
            }
            return id
        }
        guard let tokenizer else { throw LanternError.invalidArgument("\(source) has no tokenizer: give the token as an id") }
        let ids = tokenizer.encode(text, addBOS: false)
        guard ids.count == 1 else {
            throw LanternError.invalidArgument("'\(text)' is \(ids.count) tokens (\(ids.map(String.init).joined(separator: ","))), not one: give an id")
        }
        return ids[0]
    }

    /// A token as a table shows it: control characters escaped.
    func shown(_ id: Int32) -> String {
        display(id).replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
    }
}

/// Writes an HTML page and says where.
func writeHTML(_ html: String, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(html.utf8)) else {
        throw LanternError.badFile(path: path, field: "file", problem: "cannot write")
    }
    note("wrote \(path)")
}

/// Whether standard output is a terminal (colours and tables) rather than a pipe.
let stdoutIsTerminal = isatty(1) != 0

/// Pads or cuts `s` to exactly `width` columns (one column per character).
func fit(_ s: String, _ width: Int) -> String {
    let chars = Array(s)
    if chars.count > width { return String(chars.prefix(max(width - 1, 0))) + "…" }
    return s + String(repeating: " ", count: width - chars.count)
}

/// A comma-separated list of integers.
func integers(_ text: String, what: String) throws -> [Int] {
    let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
        throw LanternError.invalidArgument("\(what) must be comma-separated integers, got '\(text)'")
    }
    return parts.map { $0! }
}
