import Analyses
import ArgumentParser
import Foundation
import Lantern
import LanternServer

/// `lantern serve`: the page app and JSON API on this machine (a local Neuronpedia).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a page app and a JSON API over one model: next tokens, logit/tuned lens, attention, SAE features and dashboards, steering, attribution graphs, patching sweeps.",
        discussion: """
            The model, SAEs, tuned lens and corpus come from this command line only; requests choose an SAE by its index \
            and never name a file. Requests share one model instance, queued one forward pass at a time. The API is \
            described at /openapi.json; each analysis returns the JSON of its CLI command's --json.
            """)

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "SAEs to serve (Gemma Scope, Gemma Scope 2 or SAELens), repeatable; the API picks one by index.")
    var sae: [String] = []

    @Option(name: .long, help: "A tuned lens folder to show beside the logit lens.")
    var tuned: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Transcoders for attribution graphs (as `lantern graph --transcoders`: per-layer folders, a folder holding them, or one cross-layer folder).")
    var transcoders: [String] = []

    @Option(name: .long, help: "The address to listen on (loopback unless told otherwise).")
    var host = "127.0.0.1"

    @Option(name: .long, help: "A host name requests may address besides localhost and 127.0.0.1 (the Host header), repeatable: what a browser on another machine uses with --host 0.0.0.0.")
    var allowHost: [String] = []

    @Option(name: .long, help: "The port (0: any free port, printed).")
    var port = 8080

    @OptionGroup var corpus: CorpusOptions

    @Option(name: .long, help: "Corpus tokens each SAE's background scan reads for feature dashboards (0: no corpus, no dashboards).")
    var scanTokens = 8192

    @Option(name: .long, help: "Tokens per scanned context, BOS included.")
    var context = 128

    @Option(name: .long, help: "Contexts an on-demand dashboard reads while the background scan is still running.")
    var onDemandContexts = 4

    @Option(name: .long, help: "Tokens of concurrent `next` requests run together as rows of one forward pass (0 or 1: each request alone).")
    var mergeRows = ServerLimits().mergedRows

    func validate() throws {
        try OptionCheck.integer(port, "--port", 0...65535)
        try OptionCheck.integer(scanTokens, "--scan-tokens", 0...OptionCheck.maxCount)
        try OptionCheck.integer(context, "--context", 2...1 << 20)
        try OptionCheck.integer(onDemandContexts, "--on-demand-contexts", 1...1_000_000)
        try OptionCheck.integer(mergeRows, "--merge-rows", 0...1 << 20)
    }

    func run() throws {
        // A server runs many passes over the same weights (merged `next` groups, scans, graphs,
        // lenses, sweeps): each weight is widened to f32 after its first many-row product, as the
        // scan and sweep commands do. Decoding and short prompts (under 8 rows) still read the
        // stored bytes.
        let loaded = try model.load(manyPasses: true)
        let saes = try sae.map { path -> SAE in
            let loadedSAE = try SAE.load(path: path, backend: loaded.backend)
            try loadedSAE.check(against: loaded.config)
            return loadedSAE
        }
        let lens = try tuned.map { try TunedLens.load(directory: $0) }
        let replacement = transcoders.isEmpty ? nil : try TranscoderFolders.replacementModel(transcoders, loaded)
        var contexts: [[Int32]] = []
        if (!saes.isEmpty || replacement != nil) && scanTokens > 0 {
            let length = min(context, loaded.config.contextLength)
            let wanted = (scanTokens + length - 1) / length
            try corpus.packer(for: loaded, length: length).forEachContext { index, ids in
                contexts.append(ids)
                return index + 1 < wanted
            }
        }
        var setup = ServerSetup(model: loaded, saes: saes, tuned: lens, replacement: replacement, host: host, port: port, byteTokens: corpus.byteTokens,
                                scanContexts: contexts, onDemandContexts: onDemandContexts, allowedHosts: allowHost)
        setup.limits.mergedRows = mergeRows
        let server = LanternServer(setup)
        let host = self.host
        let failure = ServeFailure()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run { port in
                    // One line on standard output, so a script can read the port.
                    writeOut("serving \(loaded.displayName) on http://\(host):\(port)/ (API: /openapi.json)\n")
                }
            } catch {
                failure.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = failure.error {
            // The usual cause is a port in use: name the address, not only the socket call.
            throw LanternError.invalidArgument("--host/--port: cannot serve on \(host):\(port): \(error)")
        }
    }
}

/// Carries the server's error from its task back to the command.
final class ServeFailure: @unchecked Sendable {
    var error: (any Error)?
}
