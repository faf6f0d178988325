import ArgumentParser
import Foundation
import Lantern

/// Which model to run, and on what.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A Hugging Face model directory, a .gguf file, or a cached model name (gemma3-270m, smollm2; default gemma3-270m, fetched on first use).")
    var model: String?

    @Option(name: .long, help: "Backend: auto (a GPU through Vulkan if there is one, else the CPU), cpu, vulkan.")
    var backend: BackendKind = .auto

    func makeBackend() throws -> any Backend {
        let (backend, notice) = try Lantern.makeBackend(self.backend)
        if let notice { note(notice) }
        return backend
    }

    func load() throws -> LanternModel {
        let location = try ModelStore().resolve(model, progress: fetchProgress)
        // GGUF (block-quantised) weights run on both backends: the Vulkan shaders dequantise them.
        return try LanternModel.load(location, backend: try makeBackend())
    }
}

/// The tokens a command runs on.
struct PromptOptions: ParsableArguments {
    @Option(name: .long, help: "The prompt as text (tokenized with the model's tokenizer, BOS added as it says).")
    var prompt: String?

    @Option(name: .long, help: "The prompt as token ids, comma-separated (e.g. 2,651,13).")
    var tokens: String?

    func validate() throws {
        if prompt != nil && tokens != nil { throw ValidationError("give --prompt or --tokens, not both") }
    }

    /// The prompt's ids, from text or from --tokens.
    func ids(for model: LanternModel) throws -> [Int32] {
        if let prompt { return try model.encode(prompt) }
        return try tokenIDs()
    }

    func tokenIDs() throws -> [Int32] {
        guard let tokens else { throw LanternError.invalidArgument("give the prompt with --prompt or --tokens") }
        let parts = tokens.split(separator: ",", omittingEmptySubsequences: false)
        let ids = parts.map { Int32($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, ids.allSatisfy({ $0 != nil }) else {
            throw LanternError.invalidArgument("--tokens must be comma-separated integers, got '\(tokens)'")
        }
        return ids.map { $0! }
    }
}

/// Model-fetch progress: one line redrawn in place on a terminal, each line otherwise.
@Sendable func fetchProgress(_ line: String) {
    if isatty(2) != 0 {
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (line.contains("ready at") ? "\n" : "")).utf8))
    } else {
        note(line)
    }
}

extension BackendKind: ExpressibleByArgument {}

/// Writes a line to standard error (progress, notices), keeping standard output for results.
func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// JSON text of a value, keys sorted.
func jsonString(_ value: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
}

/// Writes text to standard output now (streaming generation), without a newline.
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
