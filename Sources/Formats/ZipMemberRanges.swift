import Foundation
import LanternCore

/// Where each member's data lies in a zip file, read from the central directory and the local
/// headers: a check that every member's compressed bytes lie inside the file, made before anything
/// is extracted. ZIPFoundation does not check this, and a member that runs past the end of the file
/// makes its inflate loop wait forever for bytes that never come.
enum ZipMemberRanges {
    /// Refuses an archive whose members' data would run past its end (or whose directory does).
    static func check(_ path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        func bad(_ field: String, _ problem: String) -> LanternError { .badFile(path: path, field: field, problem: problem) }
        func u16(_ at: Int) -> UInt64? { at >= 0 && at + 2 <= data.count ? UInt64(data[at]) | UInt64(data[at + 1]) << 8 : nil }
        func u32(_ at: Int) -> UInt64? { guard let lo = u16(at), let hi = u16(at + 2) else { return nil }; return lo | hi << 16 }
        func u64(_ at: Int) -> UInt64? { guard let lo = u32(at), let hi = u32(at + 4) else { return nil }; return lo | hi << 32 }
        let size = UInt64(data.count)

        // The end-of-central-directory record: the last signature within the final 64 KiB + 22 bytes.
        var eocd: Int?
        var at = data.count - 22
        while at >= max(0, data.count - 22 - 65_535) {
            if u32(at) == 0x0605_4b50 { eocd = at; break }
            at -= 1
        }
        guard let end = eocd, var count = u16(end + 10), var directory = u32(end + 16) else {
            throw bad("archive", "no end-of-central-directory record (not a zip/npz archive, or truncated)")
        }
        // ZIP64: the locator just before the record points at the 64-bit record.
        if count == 0xFFFF || directory == 0xFFFF_FFFF, u32(end - 20) == 0x0706_4b50 {
            guard let record = u64(end - 12), record < size, u32(Int(record)) == 0x0606_4b50,
                  let c = u64(Int(record) + 32), let d = u64(Int(record) + 48) else {
                throw bad("archive", "the ZIP64 end-of-central-directory record is missing or outside the file")
            }
            (count, directory) = (c, d)
        }
        guard directory < size, count <= size / 46 else {
            throw bad("archive", "the central directory (\(count) members at byte \(directory)) does not fit the file's \(size) bytes")
        }
        var entry = Int(directory)
        // Two members of one name: a reader looking a name up gets one of them, and which one
        // differs between zip libraries, so the archive means nothing definite.
        var names = Set<[UInt8]>()
        for _ in 0..<count {
            guard u32(entry) == 0x0201_4b50, var compressed = u32(entry + 20), let uncompressed32 = u32(entry + 24),
                  let nameLength = u16(entry + 28), let extraLength = u16(entry + 30), let commentLength = u16(entry + 32),
                  var local = u32(entry + 42) else {
                throw bad("archive", "a central directory entry at byte \(entry) is truncated or malformed")
            }
            let nameStart = entry + 46, extraStart = nameStart + Int(nameLength)
            let nameBytes = Array(data[nameStart..<min(data.count, extraStart)])
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard names.insert(nameBytes).inserted else { throw bad(name, "appears twice in the archive's central directory") }
            // ZIP64 sizes and offset, in the extra field, for the values stored as 0xFFFFFFFF.
            var field = extraStart
            while field + 4 <= extraStart + Int(extraLength), let id = u16(field), let length = u16(field + 2) {
                if id == 0x0001 {
                    var value = field + 4
                    if uncompressed32 == 0xFFFF_FFFF { value += 8 }
                    if compressed == 0xFFFF_FFFF { guard let v = u64(value) else { break }; compressed = v; value += 8 }
                    if local == 0xFFFF_FFFF { guard let v = u64(value) else { break }; local = v }
                }
                field += 4 + Int(length)
            }
            guard local < size, u32(Int(local)) == 0x0403_4b50, let localName = u16(Int(local) + 26), let localExtra = u16(Int(local) + 28) else {
                throw bad(name, "the member's local header (byte \(local)) is missing or outside the file")
            }
            let start = local + 30 + localName + localExtra
            let (stop, overflow) = start.addingReportingOverflow(compressed)
            guard !overflow, stop <= size else {
                throw bad(name, "the member's \(compressed) compressed bytes from byte \(start) run past the file's \(size) bytes")
            }
            entry = extraStart + Int(extraLength) + Int(commentLength)
        }
    }
}
