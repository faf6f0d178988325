import Foundation
import LanternCore

/// Shared by every harness: the input as a file (the parsers map files), and the rule each input
/// is held to. A trap, an ASan report, a leak of memory past libFuzzer's limits or a hang is a
/// crash by itself; an error that is not one LanternError line is made one here.
enum Fuzz {
    /// One scratch file per process (libFuzzer's -jobs/-fork workers are separate processes).
    static let scratch = NSTemporaryDirectory() + "lantern-fuzz-\(getpid())"

    static func file(_ data: UnsafePointer<UInt8>, _ size: Int, name: String = "input") -> String {
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let path = scratch + "/" + name
        let f = fopen(path, "wb")!
        if size > 0 { fwrite(data, 1, size, f) }
        fclose(f)
        return path
    }

    /// Runs `body`; a thrown error must be a LanternError rendering as one line.
    static func expectCleanErrors(_ body: () throws -> Void) {
        do {
            try body()
        } catch let error as LanternError {
            let text = error.description
            if text.contains("\n") || text.isEmpty { fatalError("multi-line or empty error: \(text)") }
        } catch {
            fatalError("not a LanternError: \(type(of: error)): \(error)")
        }
    }
}
