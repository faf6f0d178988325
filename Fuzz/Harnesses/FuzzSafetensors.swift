import Foundation
@testable import Formats
import LanternCore

/// safetensors: the first input byte picks the target. Even: the bytes are a safetensors file
/// (header and data). Odd: the rest is a shard index (model.safetensors.index.json) beside a
/// fixed valid shard, so the index parser, path containment and the tensor lookup all run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    if data[0] & 1 == 0 {
        let path = Fuzz.file(data + 1, size - 1, name: "model.safetensors")
        Fuzz.expectCleanErrors {
            let file = try SafetensorsFile(path: path)
            for name in file.tensorNames { _ = try file.tensor(name).floats() }
        }
    } else {
        let dir = Fuzz.scratch + "/index"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let shard = dir + "/model-00001-of-00001.safetensors"
        if !FileManager.default.fileExists(atPath: shard) {
            try? SafetensorsWriter.write([.init(name: "a", shape: [2], values: [1, 2]), .init(name: "b", shape: [1], values: [3])], to: shard)
        }
        let index = Data(UnsafeBufferPointer(start: data + 1, count: size - 1))
        try? index.write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        Fuzz.expectCleanErrors {
            let checkpoint = try Checkpoint(directory: dir)
            for name in checkpoint.tensorNames where checkpoint.has(name) { _ = try checkpoint.tensor(name).floats() }
        }
    }
    return 0
}
