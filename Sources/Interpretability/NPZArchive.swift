import Foundation
import LanternCore
import ZIPFoundation

/// A NumPy `.npz` file: a zip archive of `.npy` members, stored or deflated. Members are read one
/// at a time straight from the file, so a large archive is never held in memory whole.
public final class NPZArchive {
    public let path: String
    private let archive: Archive

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw LanternError.badFile(path: path, field: "file", problem: "cannot read")
        }
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw LanternError.badFile(path: path, field: "archive", problem: "not a readable zip/npz archive (truncated or corrupt: \(error))")
        }
    }

    /// Member names without the `.npy` suffix.
    public var names: [String] {
        archive.map { $0.path.hasSuffix(".npy") ? String($0.path.dropLast(4)) : $0.path }
    }

    public func contains(_ name: String) -> Bool { archive[name + ".npy"] != nil }

    /// The array `name` (member `name.npy`).
    public func array(_ name: String) throws -> NPYArray {
        guard let entry = archive[name + ".npy"] else {
            throw LanternError.badFile(path: path, field: name, problem: "missing (members: \(names.sorted().joined(separator: ", ")))")
        }
        var bytes = Data()
        bytes.reserveCapacity(Int(min(entry.uncompressedSize, 1 << 34)))
        do {
            _ = try archive.extract(entry, bufferSize: 1 << 20) { bytes.append($0) }
        } catch {
            throw LanternError.badFile(path: path, field: name, problem: "cannot read the member (truncated or corrupt: \(error))")
        }
        return try NPYArray(bytes: bytes, path: path, name: name)
    }
}
