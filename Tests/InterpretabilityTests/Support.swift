import Foundation
import XCTest
import CPUBackend
import Formats
import LanternCore
import Models

/// Paths and loaders the interpretability tests share.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let modelNames = ["gemma2_tiny", "gemma3_tiny", "llama_tiny"]
    /// With the Llama-like families (Qwen 2, Qwen 3, Mistral, OLMo 2), for the tools that need
    /// nothing but the fixture.
    static let allModelNames = modelNames + ["qwen2_tiny", "qwen3_tiny", "mistral_tiny", "olmo2_tiny", "gpt2_tiny", "pythia_tiny"]

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func model(_ name: String, backend: any Backend = CPUBackend()) throws -> Transformer {
        try Transformer(directory: path(name), backend: backend)
    }

    /// The token sequences transformers ran in the fixture's reference.
    static func sequences(_ name: String) throws -> [[Int32]] {
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("\(name)/reference.json"))) as! [String: Any]
        return (meta["sequences"] as! [[Int]]).map { $0.map(Int32.init) }
    }

    static func reference(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: path("\(name)/reference.safetensors"))
    }

    /// max |a − b| / max |b|.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "sizes \(a.count) and \(b.count)")
        let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        return diff / max(b.map(abs).max() ?? 0, 1e-30)
    }
}
