import CPUBackend
import Foundation
@testable import Formats
@testable import Interpretability
import LanternCore
import XCTest

/// The first hardening pass's crash classes in npy/npz archives and SAE configurations: shape products that
/// overflow, a corrupt CRC, a member whose size is checked only after inflating, a TopK k past
/// the SAE's width, an SAE without features.
final class MalformedArrayFileTests: XCTestCase {
    let dir = NSTemporaryDirectory() + "lantern-arrays-\(UUID().uuidString)"

    override func setUpWithError() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A .npy header claiming `shape` (as text), followed by `data` bytes.
    func npy(shape: String, data: Int = 0) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        return out + Data(header.utf8) + Data(count: data)
    }

    func testNPYShapeProductOverflowIsRefused() {
        expectError(["a.npy", "array", "too many elements"]) {
            try NPYArray(bytes: self.npy(shape: "(4294967296, 4294967296)"), path: "a.npy", name: "array")
        }
        expectError(["a.npy", "array", "too many elements"]) {
            try NPYArray(bytes: self.npy(shape: "(4611686018427387904,)"), path: "a.npy", name: "array")
        }
    }

    /// A stored (uncompressed) archive via the system `zip`-free path: python's zipfile is not
    /// needed, the fixture archive is re-packed with one data byte flipped.
    func testBadCRCIsRefused() throws {
        let source = Fixtures.path("sae/gemmascope_stored/layer_2/params.npz")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        // The first member's local header: 30 bytes + name; flip a byte well inside its data.
        let nameLength = Int(bytes[26]) | Int(bytes[27]) << 8
        let extraLength = Int(bytes[28]) | Int(bytes[29]) << 8
        let member = String(decoding: bytes[30..<(30 + nameLength)], as: UTF8.self)
        bytes[30 + nameLength + extraLength + 200] ^= 0xFF
        let path = dir + "/params.npz"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let name = String(member.dropLast(4))
        expectError([path, name, "CRC-32"]) { try NPZArchive(path: path).array(name) }
    }

    /// A member declaring far more bytes than its compressed data can inflate to (a zip bomb, or
    /// a lie) is refused from the archive's directory, before anything is inflated.
    func testDeclaredSizeIsCheckedBeforeInflating() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("sae/gemmascope/layer_1/width_96/params.npz"))))
        let central: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let at = try XCTUnwrap((0...(bytes.count - 4)).first { bytes[$0..<($0 + 4)].elementsEqual(central) })
        let nameLength = Int(bytes[at + 28]) | Int(bytes[at + 29]) << 8
        let name = String(String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self).dropLast(4))
        for i in 0..<4 { bytes[at + 24 + i] = i == 3 ? 0x7F : 0xFF }  // uncompressed size 2^31 − 1
        let path = dir + "/params.npz"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        expectError([path, name, "declares 2147483647 bytes, more than its"]) { try NPZArchive(path: path).array(name) }
        expectError([path, name, "declares 2147483647 bytes"]) { try NPZArchive(path: path).header(name) }
    }

    /// A member whose compressed size (or local header) runs past the end of the file is refused
    /// when the archive opens: ZIPFoundation would wait forever for the missing bytes (the npz
    /// fuzzer's hang). Also the archive the fuzzer found, and a directory pointing outside the file.
    func testMembersRunningPastTheFileAreRefused() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("sae/gemmascope/layer_1/width_96/params.npz"))))
        let central: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let at = try XCTUnwrap((0...(bytes.count - 4)).first { bytes[$0..<($0 + 4)].elementsEqual(central) })
        let nameLength = Int(bytes[at + 28]) | Int(bytes[at + 29]) << 8
        let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
        var longer = bytes
        for i in 0..<4 { longer[at + 20 + i] = i == 3 ? 0x00 : 0xFF }   // compressed size 2^24 − 1
        let path = dir + "/params.npz"
        try Data(longer).write(to: URL(fileURLWithPath: path))
        expectError([path, name, "compressed bytes", "run past the file's \(bytes.count) bytes"]) { try NPZArchive(path: path) }
        var moved = bytes
        moved[at + 45] = 0x7F                                          // local header offset ≥ 2^31
        try Data(moved).write(to: URL(fileURLWithPath: path))
        expectError([path, name, "local header"]) { try NPZArchive(path: path) }
        try Data(bytes.prefix(at + 10)).write(to: URL(fileURLWithPath: path))
        expectError([path, "archive"]) { try NPZArchive(path: path) }
    }

    func saeLens(_ cfg: String) throws -> String {
        let folder = dir + "/saelens"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixtures.path("sae/saelens_topk/sae_weights.safetensors"), toPath: folder + "/sae_weights.safetensors")
        try Data(cfg.utf8).write(to: URL(fileURLWithPath: folder + "/cfg.json"))
        return folder
    }

    func testTopKAboveDSAEAndEmptySAEsAreRefused() throws {
        let cfg = try String(contentsOfFile: Fixtures.path("sae/saelens_topk/cfg.json"), encoding: .utf8)
        var json = try JSONSerialization.jsonObject(with: Data(cfg.utf8)) as! [String: Any]
        let dSAE = json["d_sae"] as! Int
        json["activation_fn_kwargs"] = ["k": dSAE + 1]
        let folder = try saeLens(String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self))
        expectError(["cfg.json", "activation_fn_kwargs.k", "\(dSAE + 1) is more than d_sae \(dSAE)"]) {
            try SAE.load(path: folder, backend: CPUBackend())
        }
        json["d_sae"] = 0
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: folder + "/cfg.json"))
        expectError(["cfg.json", "d_sae", "expected a positive integer"]) { try SAE.load(path: folder, backend: CPUBackend()) }
        // The check every loader shares, whatever the format.
        let config = SAEConfig(dIn: 4, dSAE: 0, activation: .relu, applyBDecToInput: false, hookName: "h", layer: 0)
        expectError(["mem", "d_sae"]) {
            try SAE(config: config, weights: SAEWeights(wEnc: [], wDec: [], bEnc: [], bDec: [0, 0, 0, 0], threshold: nil),
                    backend: CPUBackend(), source: "mem")
        }
    }
}
