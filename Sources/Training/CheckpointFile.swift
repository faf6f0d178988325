import Foundation
import Formats
import LanternCore

/// What every trainer checkpoint shares: a safetensors file written whole or not at all, and its
/// metadata's numbers read back with one clear line when one is missing.
enum CheckpointFile {
    /// Writes through a temporary file and a rename, so a crash leaves the last checkpoint whole.
    static func write(_ entries: [SafetensorsWriter.Entry], metadata: [String: String], to path: String) throws {
        let temporary = path + ".partial"
        try SafetensorsWriter.write(entries, metadata: metadata, to: temporary)
        guard rename(temporary, path) == 0 else {
            throw LanternError.badFile(path: path, field: "file", problem: "cannot move the checkpoint into place")
        }
    }

    /// The metadata value `key` of the checkpoint at `path`, as a `T`.
    static func field<T: LosslessStringConvertible>(_ metadata: [String: String], _ key: String, path: String, _: T.Type = T.self) throws -> T {
        guard let text = metadata[key], let value = T(text) else {
            throw LanternError.badFile(path: path, field: key, problem: "missing or unreadable in the checkpoint's metadata")
        }
        return value
    }
}
