import Foundation
import LanternCore
@testable import Models

/// config.json: the model configuration reader, strict types and ranges, then what the forward
/// pass derives from it for every layer (RoPE, window, attention parameters).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard let json = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any] else { return 0 }
    Fuzz.expectCleanErrors {
        let config = try ModelConfig.parse(json, path: "config.json")
        for layer in 0..<config.layerCount {
            _ = config.rope(layer: layer)
            _ = config.attentionParams(layer: layer)
        }
        _ = config.embeddingScale
    }
    return 0
}
