import Foundation
import LanternCore
@testable import Models

/// config.json: the model configuration read as a file is (the strict JSON reader, then its
/// schema: types and ranges), then what the forward pass derives from it for every layer (RoPE,
/// window, attention parameters).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = Fuzz.file(data, size, name: "config.json")
    Fuzz.expectCleanErrors {
        let config = try ModelConfig.load(path: path)
        for layer in 0..<config.layerCount {
            _ = config.rope(layer: layer)
            _ = config.attentionParams(layer: layer)
        }
        _ = config.embeddingScale
    }
    return 0
}
