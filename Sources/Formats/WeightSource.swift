import LanternCore

/// Where a model's weights come from: safetensors checkpoints, GGUF files. Names are the
/// Hugging Face ones (`model.layers.0.self_attn.q_proj.weight`); other formats map theirs.
public protocol WeightSource: Sendable {
    /// A short description for error messages (usually the path).
    var location: String { get }
    func has(_ name: String) -> Bool
    /// The tensor called `name`; a clear error naming the source when it is missing.
    func tensor(_ name: String) throws -> HostTensor
    var tensorNames: [String] { get }
}
