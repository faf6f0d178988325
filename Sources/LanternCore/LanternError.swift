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

    /// One line, always: names and values read from files (a tensor called "a\nb") are shown with
    /// their line breaks escaped.
    public var description: String {
        rendered.replacingLineBreaks()
    }

    private var rendered: String {
        switch self {
        case let .badFile(path, field, problem): "\(path): \(field): \(problem)"
        case let .shapeMismatch(op, detail): "\(op): shape mismatch: \(detail)"
        case let .invalidArgument(message): message
        case let .unsupported(message): "unsupported: \(message)"
        case let .backend(message): "backend: \(message)"
        }
    }
}

extension String {
    /// Line breaks and other control characters as escapes ("\\n", "\\u{7}"), so that text from a
    /// file cannot split an error into several lines.
    func replacingLineBreaks() -> String {
        guard unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" })
        else { return self }
        var out = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
