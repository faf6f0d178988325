import Foundation
import LanternCore
import Formats

/// What a harvest worker has written so far. It is rewritten (atomically) after each shard, so
/// that a restarted worker continues after the last shard it finished: a shard without a manifest
/// entry is simply written again.
public struct HarvestManifest: Codable, Sendable, Equatable {
    public struct Shard: Codable, Sendable, Equatable {
        public var file: String
        public var rows: Int
        /// Contexts (of this worker) whose activations the shard holds.
        public var contexts: Int
    }

    public var model: String
    public var hook: String
    public var width: Int
    /// Tokens per context, BOS included.
    public var context: Int
    public var includeBOS: Bool
    /// Rows wanted from all workers together.
    public var tokens: Int
    /// This worker is `worker` of `workers` (--shard I/N): it runs contexts i with i mod N = I.
    public var worker: Int
    public var workers: Int
    public var corpus: [String]
    public var shards: [Shard] = []
    public var complete = false
    /// Every hook a multi-hook harvest read (each shard holds one tensor per hook, named after
    /// it); nil when it read only `hook` (the tensor is then `activations`).
    public var hooks: [String]?
    /// How the shards store activations: "f16" (`harvest --dtype f16`: half the bytes, rounded to
    /// nearest) or nil for f32, as every harvest before the choice existed.
    public var dtype: String?

    public var allHooks: [String] { hooks ?? [hook] }
    /// The shards' activation dtype.
    public var storedDType: DType { dtype == "f16" ? .f16 : .f32 }

    public var rows: Int { shards.reduce(0) { $0 + $1.rows } }
    public var contextsDone: Int { shards.reduce(0) { $0 + $1.contexts } }

    enum CodingKeys: String, CodingKey {
        case model, hook, width, context, includeBOS = "include_bos", tokens, worker, workers, corpus, shards, complete, hooks, dtype
    }

    /// The folder a worker writes into: the output itself, or `part-I-of-N` inside it.
    public static func folder(output: String, worker: Int, workers: Int) -> String {
        workers == 1 ? output : (output as NSString).appendingPathComponent("part-\(worker)-of-\(workers)")
    }

    /// manifest.json as Lantern writes it, read through its schema: strict types, counts in range,
    /// this worker one of the workers, and shard files that are names inside the folder.
    static let schema = ConfigSchema([
        .init("model", .string, .required()), .init("hook", .string, .required()),
        .init("width", .integer(0...(1 << 24)), .required()), .init("context", .integer(2...(1 << 20)), .required()),
        .init("include_bos", .boolean, .required()), .init("tokens", .integer(1...(1 << 48)), .required()),
        .init("worker", .integer(0...(1 << 20)), .required()), .init("workers", .integer(1...(1 << 20)), .required()),
        .init("corpus", .strings, .required()), .init("shards", .objects, .defaultValue(.array([]))),
        .init("complete", .boolean, .defaultValue(.bool(false))), .init("hooks", .strings),
        .init("dtype", .choice(["f32", "f16"], expected: "f32 or f16")),
    ])
    static let shardSchema = ConfigSchema([
        .init("file", .string, .required()), .init("rows", .integer(0...(1 << 40)), .required()),
        .init("contexts", .integer(0...(1 << 40)), .required()),
    ])

    public static func load(folder: String) throws -> HarvestManifest? {
        let path = (folder as NSString).appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let v = try schema.read(path: path)
        let worker = try v.required("worker", v.int), workers = try v.required("workers", v.int)
        guard worker < workers else { throw v.bad("worker", "\(worker) is not one of \(workers) workers (0…\(workers - 1))") }
        var shards: [Shard] = []
        for (i, item) in (try v.objects("shards") ?? []).enumerated() {
            let s: ConfigValues
            do {
                s = try shardSchema.read(item, path: path)
            } catch LanternError.badFile(_, let field, let problem) {
                throw v.bad("shards[\(i)].\(field)", problem)
            }
            let file = try s.required("file", s.string)
            guard !file.isEmpty, !file.contains("/"), !file.hasPrefix("."), file.hasSuffix(".safetensors") else {
                throw v.bad("shards[\(i)].file", "'\(file.prefix(80))' is not a shard file name inside the folder")
            }
            shards.append(Shard(file: file, rows: try s.required("rows", s.int), contexts: try s.required("contexts", s.int)))
        }
        let hook = try v.required("hook", v.string)
        let hooks = try v.strings("hooks")
        if let hooks, hooks.first != hook || Set(hooks).count != hooks.count {
            throw v.bad("hooks", "expected distinct hook names starting with '\(hook)' (the hook field)")
        }
        return HarvestManifest(model: try v.required("model", v.string), hook: hook, width: try v.required("width", v.int),
                               context: try v.required("context", v.int), includeBOS: try v.required("include_bos", v.bool),
                               tokens: try v.required("tokens", v.int), worker: worker, workers: workers,
                               corpus: try v.required("corpus", v.strings), shards: shards,
                               complete: try v.bool("complete") ?? false, hooks: hooks,
                               dtype: try v.string("dtype").flatMap { $0 == "f32" ? nil : $0 })
    }

    /// Writes manifest.json through a temporary file and a rename, so a reader (or a crash) sees
    /// the old manifest or the new one, never half of one.
    public func save(folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = URL(fileURLWithPath: (folder as NSString).appendingPathComponent("manifest.json"))
        try encoder.encode(self).write(to: url, options: .atomic)
    }

    /// Every worker's manifest under `directory`: its own, then part-*-of-* in name order.
    public static func all(in directory: String) throws -> [(folder: String, manifest: HarvestManifest)] {
        var found: [(String, HarvestManifest)] = []
        if let own = try load(folder: directory) { found.append((directory, own)) }
        let parts = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("part-") }.sorted()
        for part in parts {
            let folder = (directory as NSString).appendingPathComponent(part)
            if let manifest = try load(folder: folder) { found.append((folder, manifest)) }
        }
        return found
    }
}
