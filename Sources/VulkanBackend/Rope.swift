import Foundation
import LanternCore

/// Which cos/sin table a RoPE call needs.
struct RopeKey: Hashable {
    let theta: UInt32
    let positionScale: UInt32
    let rotaryDim: Int
}

extension VulkanBackend {
    /// cos and sin of every (position, pair) as the CPU reference computes them: the angle in f32
    /// (position · inv_freq / scale, inv_freq = θ^(−2i/d)), its cos and sin in double. Kept on the
    /// device per RoPE setting and regrown (doubling) when a longer position is asked for.
    func ropeTable(_ params: RopeParams, positions needed: Int) throws -> VulkanStorage {
        let key = RopeKey(theta: params.theta.bitPattern, positionScale: params.positionScale.bitPattern, rotaryDim: params.rotaryDim)
        if let t = lock.locked({ ropeTables[key] }), t.positions >= needed { return t.storage }
        let positions = max(needed, 2 * (lock.locked { ropeTables[key]?.positions } ?? 0), 256)
        let half = params.rotaryDim / 2
        let inv = (0..<half).map { 1 / pow(params.theta, Float(2 * $0) / Float(params.rotaryDim)) }
        var table = [Float](repeating: 0, count: positions * half * 2)
        for pos in 0..<positions {
            for i in 0..<half {
                let angle = Float(pos) * (inv[i] / params.positionScale)
                table[(pos * half + i) * 2] = Float(cos(Double(angle)))
                table[(pos * half + i) * 2 + 1] = Float(sin(Double(angle)))
            }
        }
        let storage = try newStorage(bytes: table.count * 4)
        try table.withUnsafeBytes { try upload(storage, $0) }
        lock.locked { ropeTables[key] = (storage, positions) }
        return storage
    }

    public func rope(_ x: Tensor, heads: Int, headDim: Int, start: Int, params: RopeParams) throws -> Tensor {
        try rope(x, heads: heads, headDim: headDim, start: start, params: params, inverse: false)
    }

    /// With `inverse`, every pair turns by −θ: the rotation's transpose, RoPE's backward.
    func rope(_ x: Tensor, heads: Int, headDim: Int, start: Int, params: RopeParams, inverse: Bool) throws -> Tensor {
        try params.checkShape(x, heads: heads, headDim: headDim, start: start, op: inverse ? "ropeBackward" : "rope")
        try requireF32("rope", x)
        let out = try f32Tensor(x.shape)
        if x.count == 0 { return out }
        let table = try ropeTable(params, positions: start + x.rowCount)
        let outStorage = try out.vulkanStorage(device)
        try dispatch(.rope, spec: [256, inverse ? 1 : 0],
                     buffers: [try x.vulkanStorage(device), table, outStorage, outStorage],
                     push: [UInt32(x.count), UInt32(headDim), UInt32(params.rotaryDim), params.pairing == .interleaved ? 1 : 0,
                            UInt32(start), try x.elementOffset, 0, UInt32(x.width)],
                     groups: Self.grid(x.count, 256))
        return out
    }

    /// Sequences packed as rows: one dispatch, each row's position (row − its sequence's first
    /// row) uploaded beside it.
    public func rope(_ x: Tensor, heads: Int, headDim: Int, segments: [Range<Int>], params: RopeParams) throws -> Tensor {
        try params.checkShape(x, heads: heads, headDim: headDim)
        try PackedSequences.check(segments, rows: x.rowCount, op: "rope")
        try requireF32("rope", x)
        let out = try f32Tensor(x.shape)
        if x.count == 0 { return out }
        let table = try ropeTable(params, positions: segments.map(\.count).max() ?? 0)
        let positions = try rowIndexBuffer(PackedSequences.positions(segments))
        try dispatch(.rope, variant: "packed", spec: [256, 0],
                     buffers: [try x.vulkanStorage(device), table, try out.vulkanStorage(device), positions],
                     push: [UInt32(x.count), UInt32(headDim), UInt32(params.rotaryDim), params.pairing == .interleaved ? 1 : 0,
                            0, try x.elementOffset, 0, UInt32(x.width)],
                     groups: Self.grid(x.count, 256))
        return out
    }

    /// A buffer of one uint per row (positions, sequence starts) for the packed-sequence ops. A
    /// batched pass asks for the same two at every layer: they are uploaded once and kept until
    /// another batch's replace them.
    func rowIndexBuffer(_ values: [Int32]) throws -> VulkanStorage {
        if let kept = lock.locked({ rowIndexBuffers[values] }) { return kept }
        let storage = try newStorage(bytes: max(4, values.count * 4))
        try values.map { UInt32($0) }.withUnsafeBytes { try upload(storage, $0) }
        lock.locked {
            if rowIndexBuffers.count >= 2 { rowIndexBuffers.removeAll() }
            rowIndexBuffers[values] = storage
        }
        return storage
    }
}
