import Foundation
import Interpretability
import LanternCore

/// Dictionary folders read without a backend: the first byte chooses a Gemma Scope 2 SAE, a
/// Gemma Scope 2 transcoder, a cross-layer transcoder or a SAELens SAE; the rest is the folder's
/// files, separated by `Fuzz.separator` (config first). Whatever loads must pass the checks a
/// loaded dictionary is held to (`SAE.check`, `Transcoder.check`, `CrossLayerTranscoder.check`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTranscoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let parts = Fuzz.parts(data + 1, size - 1)
    func file(_ i: Int) -> [UInt8]? { i < parts.count ? parts[i] : nil }
    Fuzz.expectCleanErrors {
        switch data[0] % 4 {
        case 0:
            let dir = Fuzz.folder("resid_post", [("config.json", parts[0])] + (file(1).map { [("params.safetensors", $0)] } ?? []))
            let sae = try GemmaScope2.readSAE(directory: dir)
            try SAE.check(sae.config, sae.weights, source: sae.source)
        case 1:
            let dir = Fuzz.folder("transcoder", [("config.json", parts[0])] + (file(1).map { [("params.safetensors", $0)] } ?? []))
            let tc = try GemmaScope2.readTranscoder(directory: dir)
            try Transcoder.check(tc.config, tc.weights, source: tc.source)
        case 2:
            // An empty first part: a folder without config.json (the layers' defaults).
            let layers = parts.dropFirst().prefix(8).enumerated().map { ("params_layer_\($0).safetensors", $1) }
            let dir = Fuzz.folder("clt", (parts[0].isEmpty ? [] : [("config.json", parts[0])]) + layers)
            try CrossLayerTranscoder.check(try GemmaScope2.readCrossLayerTranscoder(directory: dir))
        default:
            // Named for a layer, so that the cfg.json's hook is compared with it.
            let dir = Fuzz.folder("blocks.1.hook_resid_post", [("cfg.json", parts[0])] + (file(1).map { [("sae_weights.safetensors", $0)] } ?? []))
            let sae = try SAE.readSAELens(directory: dir)
            try SAE.check(sae.config, sae.weights, source: dir)
        }
    }
    return 0
}
