import CVulkan
import Foundation
import LanternCore

/// The compute shaders in `Shaders/` (one per op family), with their binding counts and push
/// constant sizes as the GLSL declares them.
enum Shader: String, CaseIterable, Sendable {
    case matmul, rmsnorm, layernorm, rope, attention, geglu, gelu, add, scale, embed
    case saeEncode = "sae_encode", saeTopK = "sae_topk"
    // The backward ops (`DifferentiableBackend`).
    case matmulBackward = "matmul_backward", rmsnormBackward = "rmsnorm_backward", layernormBackward = "layernorm_backward"
    case attentionBackward = "attention_backward", elementwiseBackward = "elementwise_backward"
    case logitSummary = "logit_summary", positiveEntries = "positive_entries"

    var bindings: Int {
        switch self {
        case .attention, .saeEncode, .elementwiseBackward: 5
        case .attentionBackward: 8
        case .rmsnormBackward, .layernormBackward, .layernorm, .rope: 4
        case .scale, .gelu, .positiveEntries: 2
        case .saeTopK: 1
        default: 3
        }
    }

    /// Push-constant bytes (32-bit words × 4).
    var pushBytes: Int {
        switch self {
        case .matmul: 7 * 4
        case .rmsnorm: 7 * 4
        case .layernorm: 7 * 4
        case .rope: 8 * 4
        case .attention: 15 * 4
        case .geglu: 4 * 4
        case .gelu: 3 * 4
        case .add: 6 * 4
        case .scale: 4 * 4
        case .embed: 7 * 4
        case .saeEncode: 10 * 4
        case .saeTopK, .positiveEntries: 4 * 4
        case .matmulBackward, .rmsnormBackward: 8 * 4
        case .attentionBackward: 13 * 4
        case .layernormBackward: 7 * 4
        case .elementwiseBackward: 5 * 4
        case .logitSummary: 6 * 4
        }
    }
}

/// SPIR-V lookup: `LANTERN_SHADER_DIR` if set; else the modules built into this binary
/// (`EmbeddedShaders`, written by the CompileShaders plugin), so that a copied `lantern` or
/// liblanternc needs nothing beside it; else the resource bundle SwiftPM puts beside the
/// executable (`Lantern_VulkanBackend.resources`, what `Bundle.module` reads). Not `Bundle.module`
/// itself: its accessor traps when the bundle is missing, and a missing shader must be an error.
enum ShaderLibrary {
    static let bundleName = "Lantern_VulkanBackend.resources"

    /// `variant`: the suffix of a `// variant:` build of the shader (see the CompileShaders plugin).
    static func spirv(_ shader: Shader, variant: String? = nil) throws -> [UInt32] {
        let resource = shader.rawValue + (variant.map { "_" + $0 } ?? "")
        let file = resource + ".spv"
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["LANTERN_SHADER_DIR"], !dir.isEmpty {
            candidates.append(URL(fileURLWithPath: dir).appendingPathComponent(file))
        } else if let text = EmbeddedShaders.spirv[resource], let data = Data(base64Encoded: text), data.count % 4 == 0,
                  !data.isEmpty {
            return data.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
        }
        let exeDir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(exeDir.appendingPathComponent(bundleName).appendingPathComponent(file))
        candidates.append(Bundle.main.bundleURL.appendingPathComponent(bundleName).appendingPathComponent(file))
        let found = candidates.first { FileManager.default.fileExists(atPath: $0.path) }
        guard let url = found, let data = FileManager.default.contents(atPath: url.path), data.count % 4 == 0, !data.isEmpty else {
            throw LanternError.backend("vulkan: shader \(file) not found (looked in: \(candidates.map(\.path).joined(separator: ", ")); copy \(bundleName) beside the executable or set LANTERN_SHADER_DIR)")
        }
        return data.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
    }
}

/// One pipeline per (shader, specialization constants), created on first use.
final class PipelineCache: @unchecked Sendable {
    private let device: Device
    private var pipelines: [String: OpaquePointer] = [:]
    private var code: [String: [UInt32]] = [:]

    init(device: Device) { self.device = device }

    /// "shader_variant:spec,…" of every pipeline made so far (tests check which kernel ran).
    var made: Set<String> { Set(pipelines.keys) }

    deinit { for p in pipelines.values { lv_pipeline_destroy(device.ctx, p) } }

    /// Caller holds the backend's lock.
    func pipeline(_ shader: Shader, variant: String?, spec: [UInt32]) throws -> OpaquePointer {
        let name = shader.rawValue + (variant.map { "_" + $0 } ?? "")
        let key = name + ":" + spec.map(String.init).joined(separator: ",")
        if let p = pipelines[key] { return p }
        if code[name] == nil { code[name] = try ShaderLibrary.spirv(shader, variant: variant) }
        let words = code[name]!
        var p: OpaquePointer?
        let rc = words.withUnsafeBufferPointer { w in
            spec.withUnsafeBufferPointer { s in
                lv_pipeline_create(device.ctx, w.baseAddress, w.count * 4, Int32(shader.bindings), UInt32(shader.pushBytes),
                                   s.baseAddress, Int32(s.count), &p)
            }
        }
        guard rc == 0, let p else { throw vulkanError(rc, "creating the \(shader.rawValue) pipeline") }
        pipelines[key] = p
        return p
    }
}
