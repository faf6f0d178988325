import CVulkan
import Foundation
import LanternCore

/// Weights are uploaded once per host buffer: the cache key is the address, size and dtype of the
/// host bytes, valid while the host tensor's owner (the mapped file) is alive.
struct WeightKey: Hashable {
    let address: UInt
    let bytes: Int
    let dtype: DType
}

final class WeightEntry {
    weak var storage: (any TensorStorage)?
    weak var owner: AnyObject?
    init(storage: any TensorStorage, owner: AnyObject) {
        self.storage = storage
        self.owner = owner
    }
}

extension VulkanBackend {
    func upload(_ storage: VulkanStorage, _ bytes: UnsafeRawBufferPointer, at offset: Int = 0) throws {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        // Under the lock: the staging path submits to the queue and reuses one staging buffer.
        let rc = lock.locked { lv_upload(device.ctx, storage.buffer, UInt64(offset), base, UInt64(bytes.count)) }
        guard rc == 0 else { throw vulkanError(rc, "uploading") }
    }

    public func tensor(_ values: [Float], shape: [Int]) throws -> Tensor {
        guard shape.reduce(1, *) == values.count else {
            throw LanternError.shapeMismatch(op: "tensor", detail: "\(values.count) values for shape \(shape)")
        }
        let t = try f32Tensor(shape)
        try values.withUnsafeBytes { try upload(try t.vulkanStorage(device), $0) }
        return t
    }

    public func weight(_ host: HostTensor) throws -> Tensor {
        guard let bytes = host.dtype.byteCount(elements: host.count), bytes <= host.bytes.count else {
            throw LanternError.shapeMismatch(op: "weight", detail: "'\(host.name)' \(host.dtype) \(host.shape) needs more than its \(host.bytes.count) bytes")
        }
        let key = WeightKey(address: UInt(bitPattern: host.bytes.baseAddress), bytes: bytes, dtype: host.dtype)
        if host.owner != nil, let entry = lock.locked({ weightCache[key] }), let s = entry.storage,
           entry.owner != nil, entry.owner === host.owner {
            return Tensor(shape: host.shape, dtype: host.dtype, storage: s)
        }
        let storage = try uploadWeight(host, bytes: bytes)
        if let owner = host.owner {
            lock.locked {
                weightCache = weightCache.filter { $0.value.storage != nil }
                weightCache[key] = WeightEntry(storage: storage, owner: owner)
            }
        }
        return Tensor(shape: host.shape, dtype: host.dtype, storage: storage)
    }

    public func zeros(shape: [Int]) throws -> Tensor {
        let t = try f32Tensor(shape)
        let s = try t.vulkanStorage(device)
        let rc = lock.locked { lv_zero(device.ctx, s.buffer, 0, lv_buffer_size(s.buffer)) }
        guard rc == 0 else { throw vulkanError(rc, "zero-filling") }
        return t
    }

    public func read(_ tensor: Tensor) throws -> [Float] {
        if let split = tensor.storage as? VulkanSplitStorage { return try readSplit(tensor, split) }
        let s = try tensor.vulkanStorage(device)
        try synchronize()
        var bytes = [UInt8](repeating: 0, count: tensor.byteCount)
        let rc = bytes.withUnsafeMutableBytes { out in
            lock.locked { lv_download(device.ctx, s.buffer, UInt64(tensor.byteOffset), out.baseAddress, UInt64(out.count)) }
        }
        guard rc == 0 else { throw vulkanError(rc, "reading back") }
        return try bytes.withUnsafeBytes {
            try HostTensor(name: "read", shape: tensor.shape, dtype: tensor.dtype, bytes: $0, owner: nil).floats()
        }
    }

    public func copyRows(_ source: Tensor, into destination: Tensor, at row: Int) throws {
        guard source.width == destination.width, row >= 0, row + source.rowCount <= destination.rowCount else {
            throw LanternError.shapeMismatch(op: "copyRows", detail: "\(source.shape) into \(destination.shape) at row \(row)")
        }
        try requireF32("copyRows", source, destination)
        let (src, dst) = (try source.vulkanStorage(device), try destination.vulkanStorage(device))
        let target = destination.byteOffset + row * destination.width * 4
        if src === dst, target < source.byteOffset + source.byteCount, source.byteOffset < target + source.byteCount {
            throw LanternError.invalidArgument("copyRows: source and destination overlap in one buffer")
        }
        try lock.locked {
            let rc = lv_copy(device.ctx, src.buffer, UInt64(source.byteOffset), dst.buffer, UInt64(target), UInt64(source.byteCount))
            guard rc == 0 else { throw vulkanError(rc, "recording copyRows") }
            inFlight.append(contentsOf: [src, dst])
        }
    }
}
