import ArgumentParser
import Foundation
import Lantern

/// `lantern bench`: matmul throughput at Gemma 2 2B shapes beside numpy/OpenBLAS in the same run,
/// and end-to-end prefill/decode on a 2B-shaped model with random bf16 weights.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure matmul GFLOP/s (beside numpy/OpenBLAS) and model tokens/s.",
        discussion: "Build with `make bench` (release, host vector units). Figures are best-of-N wall times."
    )

    @Option(name: .long, help: "What to run: all, matmul, model, workloads (start-up, trace, lens, harvest; default model gemma3-270m), matvec (decode's product on every weight type, GB/s beside a streaming read), scan (the whole-model dark-matter scan alone).")
    var only = "all"

    @Option(name: .long, parsing: .upToNextOption, help: "Token counts for the matmul shapes.")
    var tokens: [Int] = [1, 16, 128]

    @Option(name: .long, help: "Models for the end-to-end figures (directory, .gguf or cached name; repeatable). Default: a gemma-2-2b-shaped model with random bf16 weights.")
    var model: [String] = []
    var models: [String] { model }

    @Option(name: .long, help: "Prompt length for the prefill figure.")
    var prefill = 128

    @Option(name: .long, help: "Tokens to decode for the decode figure.")
    var decode = 16

    @Option(name: .long, help: "Rounds of the model figures, Lantern's and llama.cpp's in turn, each ratio from its own round (their median is the run's): a slow stretch of a shared machine then falls on one round, not on one side.")
    var rounds = 1

    @Option(name: .long, help: "Prompt tokens for the analyses' traffic on a device backend (lens, next-token losses, SAE latents); 0 skips them.")
    var analysisTokens = 16

    @Option(name: .long, help: "Backends to measure, comma-separated: cpu, vulkan, vulkan-f16 (Vulkan with --vulkan-matmul f16) (ratios are to the first).")
    var backend = "cpu"

    @Option(name: .long, parsing: .upToNextOption, help: "Shapes to run (substrings of the shape names: attn, up, down, unembed).")
    var shapes: [String] = []

    @Flag(name: .long, help: "Skip the numpy reference.")
    var noReference = false

    @Flag(name: .long, help: "Print the results as JSON.")
    var json = false

    func validate() throws {
        try OptionCheck.integers(tokens, "--tokens", 1...1 << 20)
        try OptionCheck.integer(prefill, "--prefill", 1...1 << 20)
        try OptionCheck.integer(decode, "--decode", 0...1 << 20)
        try OptionCheck.integer(analysisTokens, "--analysis-tokens", 0...1 << 20)
        try OptionCheck.integer(rounds, "--rounds", 1...100)
        guard ["all", "matmul", "model", "workloads", "matvec", "scan"].contains(only) else { throw ValidationError("--only must be all, matmul, model, workloads, matvec or scan") }
        for name in backendKinds where !["cpu", "vulkan", "vulkan-f16"].contains(name) {
            throw ValidationError("--backend takes cpu, vulkan and/or vulkan-f16, got '\(name)'")
        }
    }

    var backendKinds: [String] { backend.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }

    func run() throws {
        let backends = try backendKinds.map { name in
            name == "vulkan-f16" ? try makeBackend(.vulkan, vulkanMatmul: .f16).backend : try makeBackend(BackendKind(rawValue: name)!).backend
        }
        var report: [String: Any] = ["backends": backends.map(\.name)]
        // The model first, so that its peak memory is not the matmul section's.
        if only == "workloads" || (only == "all" && !models.isEmpty) {
            report["workloads"] = try backends.flatMap { b in try (models.isEmpty ? ["gemma3-270m"] : models).map { try workloadBench(b, spec: $0) } }
        }
        if only == "all" || only == "model" {
            report["model"] = try backends.flatMap { b in try (models.isEmpty ? [String?.none] : models.map(Optional.some)).map { try modelBench(b, spec: $0) } }
        }
        if only == "all" || only == "matmul" { report["matmul"] = try matmulBench(backends) }
        if only == "matvec" { report["matvec"] = try backends.flatMap { try matvecBench($0) } }
        if only == "scan" {
            report["scan"] = try backends.flatMap { b in try (models.isEmpty ? ["gemma3-270m"] : models).map { try scanBench(b, spec: $0) } }
        }
        if json { print(try jsonString(report)) }
    }

    // MARK: Matmul

    /// (out, in) of gemma-2-2b's weight matrices: attention, MLP up/gate, MLP down, unembedding.
    static let shapes: [(m: Int, k: Int, what: String)] = [
        (2304, 2304, "attn o (2304×2304)"), (9216, 2304, "mlp up (2304→9216)"),
        (2304, 9216, "mlp down (9216→2304)"), (256_000, 2304, "unembed (2304→256000)"),
    ]

    /// The backend's column heading: cpu, vulkan or vulkan-f16.
    static func shortName(_ backend: any Backend) -> String {
        let word = backend.name.split(separator: " ").first.map(String.init) ?? backend.name
        return (backend as? VulkanBackend)?.matmulArithmetic == .f16 ? word + "-f16" : word
    }

    /// Every shape on every backend; numpy right after the first backend on each shape.
    func matmulBench(_ backends: [any Backend]) throws -> [[String: Any]] {
        var specs: [(n: Int, m: Int, k: Int, what: String)] = []
        for s in Self.shapes where shapes.isEmpty || shapes.contains(where: { s.what.contains($0) }) {
            for n in tokens { specs.append((n, s.m, s.k, s.what)) }
        }
        let reference = noReference ? nil : NumpyReference()
        if !json {
            print("matmul GFLOP/s, bf16 weights, f32 activations; numpy/OpenBLAS f32 beside the first backend")
            var header = pad("shape", 24) + pad("tokens", 7)
            for (i, b) in backends.enumerated() {
                header += pad(Self.shortName(b), 9)
                if i == 0 && reference != nil { header += pad("numpy", 9) + pad("÷numpy", 8) }
                if i > 0 { header += pad("kernel", 9) + pad("÷" + Self.shortName(backends[0]), 8) }
            }
            print(header)
        }
        var rows: [[String: Any]] = []
        var weights: [ObjectIdentifier: (key: Int, tensor: Tensor)] = [:]
        for spec in specs {
            let key = spec.m * 100_003 + spec.k
            let host = Self.randomWeights(.bf16, m: spec.m, k: spec.k)
            let xValues = (0..<(spec.n * spec.k)).map { _ in Float.random(in: -1...1) }
            var line = pad(spec.what, 24) + pad("\(spec.n)", 7)
            var row: [String: Any] = ["shape": spec.what, "tokens": spec.n]
            var first: Double?
            for (i, backend) in backends.enumerated() {
                let id = ObjectIdentifier(backend)
                if weights[id]?.key != key { weights[id] = (key, try backend.weight(host)) }
                let w = weights[id]!.tensor
                let x = try backend.matrix(xValues, rows: spec.n, cols: spec.k)
                let seconds = try bestTime { _ = try backend.matmul(x, w); try backend.finish() }
                let gflops = 2 * Double(spec.n * spec.k * spec.m) / seconds / 1e9
                let kernel = (backend as? VulkanBackend)?.lastGPUTime.map { 2 * Double(spec.n * spec.k * spec.m) / $0 / 1e9 }
                var result: [String: Any] = ["backend": backend.name, "gflops": gflops]
                if let kernel { result["kernel_gflops"] = kernel }
                line += pad(String(format: "%.1f", gflops), 9)
                if i == 0 {
                    first = gflops
                    if let reference, let ref = reference.gflops(n: spec.n, k: spec.k, m: spec.m) {
                        result["numpy_gflops"] = ref
                        result["ratio_to_numpy"] = gflops / ref
                        line += pad(String(format: "%.1f", ref), 9) + pad(String(format: "%.2f", gflops / ref), 8)
                    }
                } else if let first {
                    result["ratio_to_first"] = gflops / first
                    line += pad(kernel.map { String(format: "%.1f", $0) } ?? "-", 9) + pad(String(format: "%.2f", gflops / first), 8)
                }
                row[i == 0 ? "first" : "backend\(i)"] = result
            }
            rows.append(row)
            if !json { print(line) }
        }
        if let blas = reference?.blas, !json { print("reference: numpy, \(blas)") }
        return rows
    }

    /// numpy timed in a helper process right after each of our shapes.
    final class NumpyReference {
        let process = Process()
        let input = Pipe(), output = Pipe()
        private(set) var blas = ""
        private var buffer = Data()

        init?() {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("tools/bench_numpy.py").path
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, "--serve"]
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil, let first = readLine(),
                  let object = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any] else {
                note("numpy reference unavailable (tools/bench_numpy.py did not start); showing Lantern's figures alone")
                return nil
            }
            blas = object["blas"] as? String ?? ""
        }

        func gflops(n: Int, k: Int, m: Int) -> Double? {
            input.fileHandleForWriting.write(Data("\(n),\(k),\(m)\n".utf8))
            return readLine().flatMap(Double.init)
        }

        private func readLine() -> String? {
            while true {
                if let newline = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[..<newline], as: UTF8.self)
                    buffer.removeSubrange(...newline)
                    return line
                }
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { return nil }
                buffer.append(chunk)
            }
        }

        deinit {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    // MARK: Model

    /// Prefill and decode speed of one model (the random 2B-shaped one unless --model names
    /// another), with llama.cpp beside it on GGUFs when llama-cpp-python is installed.
    func modelBench(_ backend: any Backend, spec: String?) throws -> [String: Any] {
        let loadStart = Date()
        let model: Transformer, name: String, weightsPath: String, ggufPath: String?
        if let spec {
            let location = try ModelStore().resolve(spec) { note($0) }
            model = try LanternModel.load(location, backend: backend).transformer
            name = spec
            if case let .gguf(path) = location { (weightsPath, ggufPath) = (path, path) }
            else { (weightsPath, ggufPath) = (location.path + "/model.safetensors", nil) }
        } else {
            let dir = try BenchModel.ensure(in: ModelStore().home)
            model = try Transformer(directory: dir, backend: backend)
            (name, weightsPath, ggufPath) = ("gemma-2-2b shape, random bf16 weights", dir + "/model.safetensors", nil)
        }
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let vocab = model.config.vocabSize
        let prompt = (0..<prefill).map { Int32(3 + ($0 * 7919) % (vocab - 3)) }
        // Warm the page cache and the code paths once.
        _ = try model.forward(Array(prompt.prefix(4)), logits: .last)
        let prefillSeconds = try timedPrefill(model, backend, prompt)
        // On a device backend: what one prefill (with its last logits read back) and one decode
        // token cost in dispatches, submits, barriers and bytes moved.
        let counter = backend as? DeviceTrafficCounting
        var traffic: [(String, DeviceTraffic)] = []
        let cache = try KVCache(model: model, capacity: prefill + decode)
        let beforePrefill = counter?.traffic
        _ = try backend.read(model.forward(prompt, cache: cache, logits: .last)!)
        if let counter, let beforePrefill { traffic.append(("prefill", counter.traffic - beforePrefill)) }
        let (tokenSeconds, lastToken) = try timedDecode(model, backend, cache: cache, counter: counter)
        if let lastToken { traffic.append(("decode token", lastToken)) }
        if let counter, analysisTokens > 0 {
            let tokens = (0..<analysisTokens).map { Int32(3 + ($0 * 7919) % (vocab - 3)) }
            traffic += try analysisTraffic(model, prompt: tokens, counter)
        }
        let meanDecodeSeconds = tokenSeconds.reduce(0, +)
        let decodeSeconds = Double(decode) * Self.medianToken(tokenSeconds)
        let peak = peakResidentBytes()
        let weightsBytes = (try? FileManager.default.attributesOfItem(atPath: weightsPath)[.size] as? Int) ?? 0
        // Decode reads every weight once per token: its rate in GB/s beside a plain streaming read.
        let bytesPerToken = model.weightBytesPerToken
        let decodeGBs = Double(bytesPerToken) * Double(decode) / decodeSeconds / 1e9
        let streamGBs = StreamRead.gigabytesPerSecond()
        var result: [String: Any] = [
            "decode_bytes_per_token": bytesPerToken, "decode_gigabytes_per_second": decodeGBs,
            "stream_read_gigabytes_per_second": streamGBs,
            "model": name, "backend": backend.name, "load_seconds": loadSeconds,
            "prefill_tokens": prefill, "prefill_tokens_per_second": Double(prefill) / prefillSeconds,
            "decode_tokens": decode, "decode_tokens_per_second": Double(decode) / decodeSeconds,
            "decode_tokens_per_second_mean": Double(decode) / meanDecodeSeconds,
            "peak_resident_bytes": peak, "weights_bytes": weightsBytes,
        ]
        for (what, t) in traffic { result[Self.trafficKey(what)] = t.json }
        let reference = ggufPath.flatMap { noReference ? nil : llamaCpp($0) }
        if let reference { result["llama_cpp"] = reference }
        let moreRounds = try reference == nil ? [] : (1..<rounds).map { _ in
            try round(model, backend, prompt: prompt, reference: ggufPath!)
        }
        if !moreRounds.isEmpty {
            let first = ratios(prefill: Double(prefill) / prefillSeconds, decode: Double(decode) / decodeSeconds, reference!)
            result["rounds"] = [first] + moreRounds
        }
        if !json {
            print("model: \(name) (\(backend.name))")
            let lp = reference?["prefill_tokens_per_second"] as? Double, ld = reference?["decode_tokens_per_second"] as? Double
            func beside(_ ours: Double, _ theirs: Double?) -> String {
                theirs.map { String(format: "   llama.cpp %.1f, ratio %.2f", $0, ours / $0) } ?? ""
            }
            print(String(format: "  prefill %d tokens: %.1f tokens/s", prefill, Double(prefill) / prefillSeconds)
                  + beside(Double(prefill) / prefillSeconds, lp))
            print(String(format: "  decode %d tokens: %.2f tokens/s (median token; mean %.2f)", decode, Double(decode) / decodeSeconds,
                         Double(decode) / meanDecodeSeconds) + beside(Double(decode) / decodeSeconds, ld))
            print(String(format: "  decode reads %.1f MB of weights per token: %.1f GB/s, %.0f%% of a streaming read's %.1f GB/s",
                         Double(bytesPerToken) / 1e6, decodeGBs, 100 * decodeGBs / streamGBs, streamGBs))
            if let all = result["rounds"] as? [[String: Double]] { printRounds(all) }
            for (what, t) in traffic { print("  \(what): \(t.summary)") }
            print(String(format: "  peak resident memory %.2f GiB (weights file %.2f GiB, mapped)",
                         Double(peak) / 1_073_741_824, Double(weightsBytes) / 1_073_741_824))
        }
        return result
    }

    /// The JSON key of a traffic line: its label up to any parenthesis, in snake case, then
    /// `_traffic` ("decode token" → decode_token_traffic, "lens (16 tokens)" → lens_traffic).
    static func trafficKey(_ label: String) -> String {
        let name = label.split(separator: "(").first.map(String.init) ?? label
        let words = name.lowercased().split { !$0.isLetter && !$0.isNumber }
        return words.joined(separator: "_") + "_traffic"
    }

    /// llama.cpp on the same GGUF and token ids with the same thread count, when installed.
    func llamaCpp(_ path: String) -> [String: Any]? {
        pythonReference("bench_llamacpp.py", [path, "\(prefill)", "\(decode)"],
                        unavailable: "llama.cpp reference unavailable (make bench-llamacpp installs llama-cpp-python)")
    }
}

/// Best of several runs (at least `atLeast`, and at least half a second in all).
func bestTime(atLeast: Int = 3, _ body: () throws -> Void) throws -> Double {
    try body()  // warm up
    var best = Double.infinity, spent = 0.0, runs = 0
    while runs < atLeast || (spent < 0.5 && runs < 50) {
        let t = Date()
        try body()
        let dt = Date().timeIntervalSince(t)
        best = min(best, dt); spent += dt; runs += 1
    }
    return best
}

/// The process's peak resident set (VmHWM), mapped weights included.
func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb * 1024
}

func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }

final class BufferOwner {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }
    deinit { buffer.deallocate() }
}

/// A reference measured beside Lantern in the same run: `tools/<script>` with `arguments` and the
/// thread count, its JSON on standard output; nil (and one note) when it cannot run.
func pythonReference(_ script: String, _ arguments: [String], unavailable: String) -> [String: Any]? {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tools/\(script)").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", path] + arguments + ["\(ProcessInfo.processInfo.activeProcessorCount)"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0, let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        note(unavailable)
        return nil
    }
    return object
}
