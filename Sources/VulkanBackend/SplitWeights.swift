import LanternCore

/// A weight matrix larger than one device buffer can bind (lavapipe: 128 MiB, less than Gemma 3's
/// 262144 × 640 embedding even in Q8_0), split by rows into parts of `rowsPerPart` rows, each its
/// own buffer. Only `matmul`, `matmulBackward`, `embed`, `saeEncode` and `read` take such weights (or
/// views of their rows, such as a slice of the vocabulary): they run once per part.
final class VulkanSplitStorage: TensorStorage, @unchecked Sendable {
    let parts: [VulkanStorage]
    let rowsPerPart: Int

    init(parts: [VulkanStorage], rowsPerPart: Int) {
        self.parts = parts
        self.rowsPerPart = rowsPerPart
    }
}

/// One part of a weight: its buffer, the first of the weight's rows it holds, how many, and where
/// they start in the buffer (the element offset, or for quantised types the byte offset).
struct WeightPart {
    let storage: VulkanStorage
    let firstRow: Int
    let rows: Int
    let offset: UInt32
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

    /// The buffers of weight `w` ([rows, ·]) with their row ranges and offsets: one part unless
    /// the weight was split, and then the parts that hold the rows of `w` (a view of a split
    /// weight, such as a slice of the vocabulary, starts inside one part and may end in another).
    func weightParts(_ w: Tensor) throws -> [WeightPart] {
        guard let split = w.storage as? VulkanSplitStorage else {
            return [WeightPart(storage: try w.vulkanStorage(device), firstRow: 0, rows: w.shape.first ?? 0, offset: try w.elementOffset)]
        }
        guard w.shape.count == 2, let rowBytes = w.dtype.byteCount(elements: w.shape[1]), rowBytes > 0,
              w.byteOffset % rowBytes == 0 else {
            throw LanternError.unsupported("a view into a weight split across device buffers (\(w.shape)) that does not start at a row")
        }
        let start = w.byteOffset / rowBytes, end = start + w.shape[0], perPart = split.rowsPerPart
        guard (end + perPart - 1) / perPart <= split.parts.count else {
            throw LanternError.unsupported("a view of rows \(start)..<\(end) past a split weight's \(split.parts.count) parts of \(perPart) rows")
        }
        return try (start / perPart..<((end + perPart - 1) / perPart)).map { i in
            let lo = max(start, i * perPart), hi = min(end, (i + 1) * perPart)
            let skipped = lo - i * perPart  // rows of this part before the view's
            let offset = w.dtype.isQuantised ? skipped * rowBytes : skipped * w.shape[1]
            guard !w.dtype.isQuantised || offset % 2 == 0 else {
                throw LanternError.unsupported("\(w.dtype) weights at the odd byte offset \(offset) on the Vulkan backend")
            }
            return WeightPart(storage: split.parts[i], firstRow: lo - start, rows: hi - lo, offset: UInt32(offset))
        }
    }

    /// `read` of a split weight: its parts, in order.
    func readSplit(_ w: Tensor, _ split: VulkanSplitStorage) throws -> [Float] {
        let width = w.shape[1]
        return try weightParts(w).flatMap { part in
            let bytes = part.offset * (w.dtype.isQuantised ? 1 : UInt32(w.dtype.byteCount(elements: 1) ?? 4))
            return try read(Tensor(shape: [part.rows, width], dtype: w.dtype, storage: part.storage, byteOffset: Int(bytes)))
        }
    }
}
