import Foundation
import Interpretability
import LanternCore

/// A tuned-lens folder: config.json (through its schema), then params.safetensors checked
/// against it (every tensor implied, shapes before reading, finite weights). Input: the config,
/// the separator, the params file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTunedLens(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = Fuzz.parts(data, size)
    let folder = Fuzz.folder("lens", [("config.json", parts[0])] + (parts.count > 1 ? [("params.safetensors", parts[1])] : []))
    Fuzz.expectCleanErrors {
        let lens = try TunedLens.load(directory: folder)
        // What a loaded lens promises: one translator per layer, each d × d, all finite.
        let d = lens.config.dModel
        guard lens.weights.count == lens.config.layerCount, lens.weights.allSatisfy({ $0.count == d * d }),
              lens.weights.joined().allSatisfy(\.isFinite) else { fatalError("a lens loaded that breaks its own config") }
    }
    return 0
}
