import Foundation
import Formats
import LanternCore

/// Rows of activations to train on, read by index (so that a seeded permutation decides the
/// order, and a resumed run reads the same rows as an uninterrupted one).
public protocol ActivationSource: Sendable {
    var rowCount: Int { get }
    var width: Int { get }
    /// The rows `indices`, concatenated.
    func rows(_ indices: [Int]) throws -> [Float]
}

/// The first `rowCount` rows of another source (so that the rest can be held out).
public struct RowPrefix: ActivationSource {
    public let base: any ActivationSource
    public let rowCount: Int
    public var width: Int { base.width }

    public init(_ base: any ActivationSource, rows: Int) {
        self.base = base
        rowCount = max(0, min(rows, base.rowCount))
    }

    public func rows(_ indices: [Int]) throws -> [Float] {
        for i in indices where i < 0 || i >= rowCount {
            throw LanternError.invalidArgument("activation row \(i) of \(rowCount)")
        }
        return try base.rows(indices)
    }
}

/// Activations already in memory (tests, small runs).
public struct InMemoryActivations: ActivationSource {
    public let values: [Float]
    public let width: Int
    public var rowCount: Int { values.count / width }

    public init(values: [Float], width: Int) {
        self.values = values
        self.width = width
    }

    public func rows(_ indices: [Int]) throws -> [Float] {
        var out = [Float]()
        out.reserveCapacity(indices.count * width)
        for i in indices { out.append(contentsOf: values[(i * width)..<((i + 1) * width)]) }
        return out
    }
}

/// The shards a harvest wrote (every worker's, when it ran as several), memory-mapped.
public final class HarvestedActivations: ActivationSource, @unchecked Sendable {
    public let width: Int
    public let rowCount: Int
    public let hook: String
    /// Tokens per context the harvest used, and the model it ran.
    public let context: Int
    public let modelName: String
    /// Each shard's rows as stored: f32, or f16 widened as they are read.
    private let shards: [(file: SafetensorsFile, firstRow: Int, rows: Int, values: UnsafeRawPointer, dtype: DType)]

    /// The rows of `hook` (needed when the harvest read several hooks; nil: its only one).
    public init(directory: String, hook wanted: String? = nil) throws {
        let manifests = try HarvestManifest.all(in: directory)
        guard let first = manifests.first else {
            throw LanternError.badFile(path: directory, field: "manifest.json", problem: "no harvest manifest here (run lantern harvest first)")
        }
        let hooks = first.1.allHooks
        guard let hook = wanted ?? (hooks.count == 1 ? hooks[0] : nil) else {
            throw LanternError.invalidArgument("\(directory) holds \(hooks.count) hooks (\(hooks.prefix(3).joined(separator: ", "))…): say which one to read")
        }
        guard hooks.contains(hook) else {
            throw LanternError.invalidArgument("\(directory) holds \(hooks.joined(separator: ", ")), not \(hook)")
        }
        let tensorName = Harvester.tensorName(hook: hook, hooks: hooks)
        var shards: [(SafetensorsFile, Int, Int, UnsafeRawPointer, DType)] = []
        var total = 0
        for (folder, manifest) in manifests {
            guard manifest.allHooks == hooks, manifest.width == first.1.width else {
                throw LanternError.badFile(path: folder, field: "manifest.json", problem: "hook or width differs from \(first.0)")
            }
            // Parts of one harvest made by different models cannot be mixed into one set of rows.
            guard manifest.model == first.1.model else {
                throw LanternError.badFile(path: (folder as NSString).appendingPathComponent("manifest.json"), field: "model",
                                           problem: "\(manifest.model), but \((first.0 as NSString).appendingPathComponent("manifest.json")) says \(first.1.model)")
            }
            for shard in manifest.shards {
                let path = (folder as NSString).appendingPathComponent(shard.file)
                let file = try SafetensorsFile(path: path)
                let host = try file.tensor(tensorName)
                let stored = manifest.storedDType
                guard host.dtype == stored, host.shape == [shard.rows, manifest.width] else {
                    throw LanternError.badFile(path: path, field: tensorName, problem: "\(host.dtype) \(host.shape), expected \(stored) [\(shard.rows), \(manifest.width)] (manifest.json)")
                }
                shards.append((file, total, shard.rows, host.bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!, stored))
                total += shard.rows
            }
        }
        width = first.1.width
        self.hook = hook
        context = first.1.context
        modelName = first.1.model
        rowCount = total
        self.shards = shards
    }

    public func rows(_ indices: [Int]) throws -> [Float] {
        var out = [Float](repeating: 0, count: indices.count * width)
        for (n, i) in indices.enumerated() {
            guard i >= 0, i < rowCount else { throw LanternError.invalidArgument("activation row \(i) of \(rowCount)") }
            var lo = 0, hi = shards.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if shards[mid].firstRow <= i { lo = mid } else { hi = mid - 1 }
            }
            let shard = shards[lo], row = i - shard.firstRow
            if shard.dtype == .f16 {
                let source = (shard.values + row * width * 2).assumingMemoryBound(to: UInt16.self)
                for j in 0..<width { out[n * width + j] = Float(Float16(bitPattern: source[j])) }
            } else {
                let source = (shard.values + row * width * 4).assumingMemoryBound(to: Float.self)
                for j in 0..<width { out[n * width + j] = source[j] }
            }
        }
        return out
    }
}
