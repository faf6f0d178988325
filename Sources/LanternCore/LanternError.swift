/// Every error Lantern reports. Each renders as one line that says what was wrong and where.
public enum LanternError: Error, CustomStringConvertible, Equatable {
    /// A file (model, weights, config, SAE, tokenizer) is unreadable or contradicts itself.
    case badFile(path: String, field: String, problem: String)
    /// Operands of an op do not fit together.
    case shapeMismatch(op: String, detail: String)
    /// A request the user made cannot be met (token id out of range, prompt too long, ...).
    case invalidArgument(String)
    /// A dtype, architecture or feature that this build does not handle.
    case unsupported(String)
    /// A backend failed (device lost, out of memory, driver missing).
    case backend(String)

    public var description: String {
        switch self {
        case let .badFile(path, field, problem): "\(path): \(field): \(problem)"
        case let .shapeMismatch(op, detail): "\(op): shape mismatch: \(detail)"
        case let .invalidArgument(message): message
        case let .unsupported(message): "unsupported: \(message)"
        case let .backend(message): "backend: \(message)"
        }
    }
}
