/// Element types a tensor can hold. Activations are always `f32`; weights keep the dtype of the
/// file they came from (16-bit floats and GGUF block-quantised types) and are widened inside kernels.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32, f16, bf16
    // GGUF block-quantised types (llama.cpp's names).
    case q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K

    /// Elements per block (1 for plain floats).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1: 32
        case .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0: 34
        case .q4_0: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        }
    }

    public var isQuantised: Bool { blockSize > 1 }

    /// Bytes that `count` elements occupy; nil when `count` is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    public var description: String { rawValue }
}
