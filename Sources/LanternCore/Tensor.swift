/// Memory that a backend owns: host memory for the CPU backend, a device buffer for Vulkan.
/// Only the backend that made it looks inside.
public protocol TensorStorage: AnyObject, Sendable {}

/// A tensor is a shape and a dtype over a backend's storage, starting `byteOffset` bytes in.
/// Row-major, innermost dimension last. Views (`reshaped`, `rows`) share storage, so capturing an
/// activation for a hook costs a reference, not a copy.
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    public let shape: [Int]
    public let dtype: DType
    public let storage: any TensorStorage
    public let byteOffset: Int

    public init(shape: [Int], dtype: DType, storage: any TensorStorage, byteOffset: Int = 0) {
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
        self.byteOffset = byteOffset
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    /// Size of the innermost dimension (1 for a scalar).
    public var width: Int { shape.last ?? 1 }
    /// Number of rows when viewed as a matrix [count / width, width].
    public var rowCount: Int { width == 0 ? 0 : count / width }
    public var byteCount: Int { dtype.byteCount(elements: count) ?? 0 }

    /// Same elements, another shape.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        guard newShape.reduce(1, *) == count else {
            throw LanternError.shapeMismatch(op: "reshape", detail: "\(shape) has \(count) elements, \(newShape) wants \(newShape.reduce(1, *))")
        }
        return Tensor(shape: newShape, dtype: dtype, storage: storage, byteOffset: byteOffset)
    }

    /// Rows `range` of the matrix view [rowCount, width].
    public func rows(_ range: Range<Int>) throws -> Tensor {
        guard range.lowerBound >= 0, range.upperBound <= rowCount else {
            throw LanternError.shapeMismatch(op: "rows", detail: "rows \(range) of a tensor with \(rowCount) rows")
        }
        guard let rowBytes = dtype.byteCount(elements: width) else {
            throw LanternError.unsupported("row slicing of \(dtype) with row width \(width)")
        }
        return Tensor(shape: [range.count, width], dtype: dtype, storage: storage,
                      byteOffset: byteOffset + range.lowerBound * rowBytes)
    }

    public var description: String { "Tensor(\(dtype), \(shape))" }
}

/// Weight bytes on the host (usually a memory-mapped file), before a backend adopts them.
/// `owner` keeps the mapping alive for as long as any tensor made from it.
public struct HostTensor: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let dtype: DType
    public let bytes: UnsafeRawBufferPointer
    public let owner: AnyObject?

    public init(name: String, shape: [Int], dtype: DType, bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.bytes = bytes
        self.owner = owner
    }

    public var count: Int { shape.reduce(1, *) }

    /// Elements widened to Float (quantised types dequantised with llama.cpp's semantics).
    public func floats() throws -> [Float] {
        try dequantize(dtype, bytes: bytes, count: count)
    }
}
