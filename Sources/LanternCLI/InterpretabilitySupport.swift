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
        // A mistyped --hook is the flag's fault, not the SAE file's: say so before loading it.
        try checkHook(hook, flag: "--hook", model: model.config)
        let loaded = try SAE.load(path: sae, backend: model.backend, hook: hook)
        try loaded.check(against: model.config)
        return loaded
    }
}

/// Refuses a hook name (when given) that `model` does not have, suggesting the nearest one.
func checkHook(_ name: String?, flag: String, model: ModelConfig) throws {
    guard let name, !HookNames.all(model).contains(name) else { return }
    throw ValidationError(HookNames.unknown(name, flag: flag, in: model))
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

/// Pads or cuts `s` to exactly `width` columns (one column per character). A cut keeps both
/// ends around a "…" (" important" → " imp…ant", " impressive" → " imp…ive"): tokens sharing a
/// prefix stay tellable apart, as a prefix cut (" import…" twice) did not keep them.
func fit(_ s: String, _ width: Int) -> String {
    let chars = Array(s)
    if chars.count > width {
        guard width >= 3 else { return String(chars.prefix(width)) }
        let tail = (width - 1) / 2, head = width - 1 - tail
        return String(chars.prefix(head)) + "…" + String(chars.suffix(tail))
    }
    return s + String(repeating: " ", count: width - chars.count)
}

/// Lines of at most `width` characters, broken at spaces (kept at the start of the next line's
/// word, as tokens carry them); a word longer than a line is cut into pieces.
func wrapWords(_ text: String, _ width: Int) -> [String] {
    guard width > 0 else { return [text] }
    var lines: [String] = [], line = ""
    // Words with their leading spaces: " the", " cat".
    var words: [String] = [], word = ""
    for c in text {
        if c == " " && !word.isEmpty && word.contains(where: { $0 != " " }) { words.append(word); word = "" }
        word.append(c)
    }
    if !word.isEmpty { words.append(word) }
    for var w in words {
        if line.count + w.count > width && !line.isEmpty {
            lines.append(line)
            line = ""
            w = String(w.drop { $0 == " " })
        }
        while w.count > width {
            lines.append(String(w.prefix(width)))
            w = String(w.dropFirst(width))
        }
        line += w
    }
    if !line.isEmpty || lines.isEmpty { lines.append(line) }
    return lines
}

/// A comma-separated list of integers (an empty entry, as in "0,,1", is an error); with
/// `distinct`, a value given twice is one too (a layer, position or feature is chosen once).
func integers(_ text: String, what: String, distinct: Bool = false) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
        throw LanternError.invalidArgument("\(what) must be comma-separated integers, got '\(text)'")
    }
    let values = parts.map { $0! }
    if distinct, let repeated = values.enumerated().first(where: { values[..<$0.offset].contains($0.element) })?.element {
        throw LanternError.invalidArgument("\(what) names \(repeated) twice in '\(text)'")
    }
    return values
}
