import ArgumentParser
import Foundation
import Analyses
import Lantern

/// Which model to run, and on what.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A Hugging Face model directory, a .gguf file, or a cached model name (gemma3-270m, smollm2; default gemma3-270m, fetched on first use).")
    var model: String?

    @Option(name: .long, help: "Backend: auto (a GPU through Vulkan if there is one, else the CPU), cpu, vulkan.")
    var backend: BackendKind = .auto

    @Flag(name: .long, help: "Say which backend runs and why (also when `auto` takes the CPU because there is no GPU).")
    var verbose = false

    @Option(name: .customLong("vulkan-matmul"), help: "The Vulkan backend's many-row products: f32 (exact, the default) or f16 (x and w rounded to f16, f16 multiply-adds within 8- or 16-deep k slices: faster where a GPU has fast f16, not exact; needs f16 shader arithmetic).")
    var vulkanMatmul: MatmulArithmetic = .f32

    func validate() throws {
        if vulkanMatmul != .f32 && backend == .cpu {
            throw ValidationError("--vulkan-matmul \(vulkanMatmul.rawValue) applies to the Vulkan backend; the CPU backend is always f32 (drop it, or add --backend vulkan)")
        }
    }

    /// `manyPasses`: the command runs many forward passes over the same weights (harvests,
    /// scans, evaluations, training from a corpus, sweeps), so the CPU backend keeps each weight
    /// widened to f32 after its first many-row product (within a quarter of memory). Commands
    /// that decode or run once leave the weights as stored: no copy, peak memory ≈ the file.
    func makeBackend(manyPasses: Bool = false) throws -> any Backend {
        let (backend, notice) = try Lantern.makeBackend(self.backend, vulkanMatmul: vulkanMatmul)
        if vulkanMatmul != .f32 && backend is CPUBackend { note("--vulkan-matmul \(vulkanMatmul.rawValue) has no effect: the CPU backend runs (always f32)") }
        if manyPasses { (backend as? CPUBackend)?.widenWeights() }
        // Falling back because there is no GPU at all is the normal case on a laptop or a CPU node:
        // said with --verbose (and by `lantern devices`). A GPU that is there but failed is news.
        if let notice, verbose || !Self.meansNoGPU(notice) { note(notice) }
        if verbose && notice == nil { note("using the \(backend.name) backend") }
        return backend
    }

    /// Whether `auto`'s fallback reason says there is no GPU to use (no loader, no driver, no
    /// device, only CPU-type devices), as opposed to a GPU that failed to start.
    static func meansNoGPU(_ notice: String) -> Bool {
        ["no Vulkan loader", "no Vulkan driver", "no Vulkan device", "no GPU: only CPU-type"].contains { notice.contains($0) }
    }

    func load(manyPasses: Bool = false) throws -> LanternModel {
        let location = try ModelStore().resolve(model, progress: fetchProgress)
        // GGUF (block-quantised) weights run on both backends: the Vulkan shaders dequantise them.
        return try LanternModel.load(location, backend: try makeBackend(manyPasses: manyPasses))
    }
}

/// The tokens a command runs on.
struct PromptOptions: ParsableArguments {
    @Option(name: .long, help: "The prompt as text (tokenized with the model's tokenizer, BOS added as it says).")
    var prompt: String?

    @Option(name: .customLong("token-ids"), help: "The prompt as token ids, comma-separated (e.g. 2,651,13).")
    var tokenIds: String?

    /// `--tokens` is a count everywhere (tokens to harvest, scan, train on); the prompt's ids were
    /// `--tokens` once, so that spelling gets a pointer to the new one instead of "unknown option".
    @Option(name: .customLong("tokens"), help: .hidden)
    var oldTokenIds: String?

    func validate() throws {
        if let oldTokenIds {
            throw ValidationError("--tokens is a count of tokens; give the prompt's ids with --token-ids \(oldTokenIds)")
        }
        if prompt != nil && tokenIds != nil { throw ValidationError("give --prompt or --token-ids, not both") }
    }

    /// The prompt's ids, from text or from --token-ids.
    func ids(for model: LanternModel) throws -> [Int32] {
        if let prompt { return try model.encode(prompt) }
        return try tokenIDs()
    }

    /// The prompt as an analysis request takes it (nil when neither flag is given).
    func input() throws -> PromptInput? {
        if let prompt { return .text(prompt) }
        return tokenIds == nil ? nil : .ids(try tokenIDs().map(Int.init))
    }

    func tokenIDs() throws -> [Int32] {
        guard let tokenIds else { throw LanternError.invalidArgument("give the prompt with --prompt or --token-ids") }
        let parts = tokenIds.split(separator: ",", omittingEmptySubsequences: false)
        let ids = parts.map { Int32($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, ids.allSatisfy({ $0 != nil }) else {
            throw LanternError.invalidArgument("--token-ids must be comma-separated integers, got '\(tokenIds)'")
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
extension MatmulArithmetic: ExpressibleByArgument {}

/// Writes a line to standard error (progress, notices), keeping standard output for results.
func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

extension LanternModel {
    /// The context an analysis runs in from the command line: no limits but the model's, errors
    /// naming flags.
    func analysisContext(saes: [SAE] = [], tuned: TunedLens? = nil, scan: FeatureScan? = nil) -> AnalysisContext {
        let context = AnalysisContext(model: self, saes: saes, tuned: tuned, spelling: .cli, featureScan: { _ in scan })
        context.noSAE = "give the SAE with --sae"
        return context
    }
}

/// The CLI's progress bar driven by an analysis's monitor: drawn from the first report, with its label.
final class ProgressBar: @unchecked Sendable {
    private var bar: Progress?

    var monitor: AnalysisMonitor {
        AnalysisMonitor(progress: { [self] done, total, label in
            if bar == nil { bar = Progress(total: total, label: label) }
            bar?.update(done)
        })
    }

    func finish() { bar?.finish() }
}

/// Prints a result as the JSON every front-end writes for it.
func printJSON<T: Encodable>(_ result: T) throws {
    print(try AnalysisJSON.string(result))
}

/// JSON text of a value, keys sorted. JSON has no NaN or ±∞: a result holding one (which the
/// forward pass's checks should have stopped earlier) is one clear line, not Foundation's error.
func jsonString(_ value: Any) throws -> String {
    guard JSONSerialization.isValidJSONObject(value) else {
        throw LanternError.invalidArgument("--json: the result holds a value JSON cannot write (NaN, ±∞ or a non-JSON type)")
    }
    return String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
}

/// Writes text to standard output now (streaming generation), without a newline.
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
