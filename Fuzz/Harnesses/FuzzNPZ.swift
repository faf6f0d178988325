import Foundation
@testable import Formats
import LanternCore

/// npy/npz: the first byte picks the target. Even: the rest is one `.npy` array. Odd: the rest is
/// an `.npz` archive; every member is read through its header first (as the SAE loaders do),
/// then whole, with the CRC checked.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPZ(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    if data[0] & 1 == 0 {
        let bytes = Data(UnsafeBufferPointer(start: data + 1, count: size - 1))
        Fuzz.expectCleanErrors { _ = try NPYArray(bytes: bytes, path: "input.npy", name: "array") }
    } else {
        let path = Fuzz.file(data + 1, size - 1, name: "params.npz")
        Fuzz.expectCleanErrors {
            let archive = try NPZArchive(path: path)
            for name in archive.names.prefix(16) {
                Fuzz.expectCleanErrors {
                    _ = try archive.header(name)
                    _ = try archive.array(name)
                }
            }
        }
    }
    return 0
}
