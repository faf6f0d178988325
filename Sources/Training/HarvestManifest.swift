import Foundation
import LanternCore

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

    public var allHooks: [String] { hooks ?? [hook] }

    public var rows: Int { shards.reduce(0) { $0 + $1.rows } }
    public var contextsDone: Int { shards.reduce(0) { $0 + $1.contexts } }

    enum CodingKeys: String, CodingKey {
        case model, hook, width, context, includeBOS = "include_bos", tokens, worker, workers, corpus, shards, complete, hooks
    }

    /// The folder a worker writes into: the output itself, or `part-I-of-N` inside it.
    public static func folder(output: String, worker: Int, workers: Int) -> String {
        workers == 1 ? output : (output as NSString).appendingPathComponent("part-\(worker)-of-\(workers)")
    }

    public static func load(folder: String) throws -> HarvestManifest? {
        let path = (folder as NSString).appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(HarvestManifest.self, from: data)
        } catch {
            throw LanternError.badFile(path: path, field: "manifest", problem: "\(error)")
        }
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
