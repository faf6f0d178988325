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

    /// Inputs that stand for a folder of several files hold them one after another, separated by
    /// this line (`tools/malformed_corpus.py seeds` writes them so).
    static let separator = Array("\n--lantern-part--\n".utf8)

    /// The input's parts, split at each separator.
    static func parts(_ data: UnsafePointer<UInt8>, _ size: Int) -> [[UInt8]] {
        let bytes = Array(UnsafeBufferPointer(start: data, count: size))
        var parts: [[UInt8]] = [], start = 0, i = 0
        while i + separator.count <= bytes.count {
            if bytes[i] == separator[0], bytes[i..<(i + separator.count)].elementsEqual(separator) {
                parts.append(Array(bytes[start..<i]))
                i += separator.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(Array(bytes[start...]))
        return parts
    }

    /// A fresh folder `name` in the scratch directory holding `files` (name → bytes) and nothing else.
    static func folder(_ name: String, _ files: [(String, [UInt8])]) -> String {
        let path = scratch + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (file, bytes) in files {
            _ = FileManager.default.createFile(atPath: path + "/" + file, contents: Data(bytes))
        }
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
