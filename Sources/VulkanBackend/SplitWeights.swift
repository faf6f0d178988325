import LanternCore

/// A weight matrix larger than one device buffer can bind (lavapipe: 128 MiB, less than Gemma 3's
/// 262144 × 640 embedding even in Q8_0), split by rows into parts of `rowsPerPart` rows, each its
/// own buffer. Only `matmul`, `embed`, `saeEncode` and `read` take such weights: they run once per part.
final class VulkanSplitStorage: TensorStorage, @unchecked Sendable {
    let parts: [VulkanStorage]
    let rowsPerPart: Int

    init(parts: [VulkanStorage], rowsPerPart: Int) {
        self.parts = parts
        self.rowsPerPart = rowsPerPart
    }
}

/// One part of a weight: its buffer, first row and row count.
struct WeightPart {
    let storage: VulkanStorage
    let firstRow: Int
    let rows: Int
}

extension VulkanBackend {
    /// Uploads `bytes` of `host` as one buffer, or split by rows when that is larger than the device
    /// binds (or than `maxWeightPartBytes`). Buffers are whole 32-bit words: the shaders read
    /// (quantised) bytes as words of a `uint[]` buffer.
    func uploadWeight(_ host: HostTensor, bytes: Int) throws -> any TensorStorage {
        let limit = min(Int(clamping: device.info.maxBufferBytes), maxWeightPartBytes) / 4 * 4
        if bytes <= limit || host.shape.count != 2 || host.shape[0] < 2 {
            let storage = try newStorage(bytes: (bytes + 3) / 4 * 4)
            try upload(storage, UnsafeRawBufferPointer(rebasing: host.bytes.prefix(bytes)))
            return storage
        }
        let rows = host.shape[0], rowBytes = bytes / rows
        let rowsPerPart = max(1, limit / max(rowBytes, 1))
        var parts: [VulkanStorage] = []
        for first in stride(from: 0, to: rows, by: rowsPerPart) {
            let count = min(rowsPerPart, rows - first)
            let storage = try newStorage(bytes: (count * rowBytes + 3) / 4 * 4)
            let start = host.bytes.startIndex + first * rowBytes
            try upload(storage, UnsafeRawBufferPointer(rebasing: host.bytes[start..<(start + count * rowBytes)]))
            parts.append(storage)
        }
        return VulkanSplitStorage(parts: parts, rowsPerPart: rowsPerPart)
    }

    /// The buffers of weight `w` ([rows, ·]) with their row ranges and the element (or, quantised,
    /// byte) offset of the first part: one part unless the weight was split.
    func weightParts(_ w: Tensor) throws -> (parts: [WeightPart], offset: UInt32) {
        guard let split = w.storage as? VulkanSplitStorage else {
            return ([WeightPart(storage: try w.vulkanStorage(device), firstRow: 0, rows: w.shape.first ?? 0)], try w.elementOffset)
        }
        guard w.byteOffset == 0, w.shape.count == 2,
              split.parts.count == (w.shape[0] + split.rowsPerPart - 1) / split.rowsPerPart else {
            throw LanternError.unsupported("a view into a weight split across device buffers (\(w.shape))")
        }
        let parts = split.parts.enumerated().map { i, s in
            WeightPart(storage: s, firstRow: i * split.rowsPerPart, rows: min(split.rowsPerPart, w.shape[0] - i * split.rowsPerPart))
        }
        return (parts, 0)
    }

    /// `read` of a split weight: its parts, in order.
    func readSplit(_ w: Tensor, _ split: VulkanSplitStorage) throws -> [Float] {
        let (parts, _) = try weightParts(w)
        let width = w.shape[1]
        return try parts.flatMap { part in
            try read(Tensor(shape: [part.rows, width], dtype: w.dtype, storage: part.storage))
        }
    }
}
