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
        try ZipMemberRanges.check(path)
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

    /// The member `name.npy`, checked to be a regular file whose declared size a deflate stream
    /// of its compressed size could produce (deflate expands at most ~1032×).
    private func entry(_ name: String) throws -> Entry {
        guard let entry = archive[name + ".npy"] else {
            throw LanternError.badFile(path: path, field: name, problem: "missing (members: \(names.sorted().joined(separator: ", ")))")
        }
        guard entry.type == .file else {
            throw LanternError.badFile(path: path, field: name, problem: "the member is a \(entry.type), not a file")
        }
        let stored = !entry.isCompressed
        let limit = stored ? entry.compressedSize : entry.compressedSize.multipliedReportingOverflow(by: 1032).partialValue + 1024
        guard entry.uncompressedSize <= limit, entry.uncompressedSize <= UInt64(Int.max / 2) else {
            throw LanternError.badFile(path: path, field: name,
                                       problem: "declares \(entry.uncompressedSize) bytes, more than its \(entry.compressedSize) compressed bytes can hold")
        }
        return entry
    }

    /// Stops an extraction once enough is known (a header read, a size exceeded).
    private struct Stop: Error {}

    /// The `.npy` header of member `name`, read without inflating the rest: loaders check shapes
    /// with it before reading any large array.
    public func header(_ name: String) throws -> NPYArray.Header {
        let entry = try entry(name)
        var bytes = Data()
        var header: NPYArray.Header?
        do {
            _ = try archive.extract(entry, bufferSize: 1 << 16, skipCRC32: true) { chunk in
                bytes.append(chunk)
                if let h = try NPYArray.header(bytes, path: self.path, name: name) { header = h; throw Stop() }
                if bytes.count > 8 + 4 + NPYArray.maxHeaderLength { throw Stop() }
            }
        } catch is Stop {
        } catch let error as LanternError {
            throw error
        } catch {
            throw LanternError.badFile(path: path, field: name, problem: "cannot read the member (truncated or corrupt: \(error))")
        }
        guard let header else { throw LanternError.badFile(path: path, field: name, problem: "truncated .npy header") }
        try check(header, against: entry, name)
        return header
    }

    private func check(_ header: NPYArray.Header, against entry: Entry, _ name: String) throws {
        guard UInt64(header.totalBytes) == entry.uncompressedSize else {
            throw LanternError.badFile(path: path, field: name,
                                       problem: "shape \(header.shape) needs \(header.totalBytes) bytes, but the member declares \(entry.uncompressedSize)")
        }
    }

    /// The array `name` (member `name.npy`). Its header is checked against the member's declared
    /// size before the data is inflated, the inflated bytes never exceed that size, and the CRC-32
    /// must match (ZIPFoundation computes it but leaves the comparison to the caller).
    public func array(_ name: String) throws -> NPYArray {
        let entry = try entry(name)
        let declared = Int(entry.uncompressedSize)
        var bytes = Data()
        var checked = false
        let checksum: CRC32
        do {
            checksum = try archive.extract(entry, bufferSize: 1 << 20) { chunk in
                guard bytes.count + chunk.count <= declared else {
                    throw LanternError.badFile(path: self.path, field: name, problem: "inflates past its declared \(declared) bytes")
                }
                bytes.append(chunk)
                if !checked, let header = try NPYArray.header(bytes, path: self.path, name: name) {
                    try self.check(header, against: entry, name)
                    checked = true
                    bytes.reserveCapacity(declared)
                }
            }
        } catch let error as LanternError {
            throw error
        } catch {
            throw LanternError.badFile(path: path, field: name, problem: "cannot read the member (truncated or corrupt: \(error))")
        }
        guard checksum == entry.checksum else {
            throw LanternError.badFile(path: path, field: name, problem: "CRC-32 \(checksum) does not match the archive's \(entry.checksum) (corrupt member)")
        }
        return try NPYArray(bytes: bytes, path: path, name: name)
    }
}
