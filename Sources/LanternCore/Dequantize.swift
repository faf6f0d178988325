/// Plain, reference dequantisation: `count` elements of `dtype` stored in `bytes`, widened to
/// Float. Exact llama.cpp semantics for every GGUF type Lantern reads; the CPU matmul's in-kernel
/// decoding is tested against this.
public func dequantize(_ dtype: DType, bytes: UnsafeRawBufferPointer, count: Int) throws -> [Float] {
    guard let needed = dtype.byteCount(elements: count) else {
        throw LanternError.invalidArgument("dequantize: \(count) elements is not a whole number of \(dtype) blocks of \(dtype.blockSize)")
    }
    guard needed <= bytes.count else {
        throw LanternError.invalidArgument("dequantize: \(count) \(dtype) elements need \(needed) bytes, got \(bytes.count)")
    }
    if count == 0 { return [] }
    let src = bytes.baseAddress!
    switch dtype {
    case .f32:
        return (0..<count).map { src.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
    case .f16:
        return (0..<count).map { Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
    case .bf16:
        return (0..<count).map { Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) << 16) }
    case .q8_0: return decodeBlocks(Q8_0Block.self, src, count)
    case .q4_0: return decodeBlocks(Q4_0Block.self, src, count)
    case .q4_1: return decodeBlocks(Q4_1Block.self, src, count)
    case .q5_0: return decodeBlocks(Q5_0Block.self, src, count)
    case .q5_1: return decodeBlocks(Q5_1Block.self, src, count)
    case .q4_K: return decodeBlocks(Q4_KBlock.self, src, count)
    case .q5_K: return decodeBlocks(Q5_KBlock.self, src, count)
    case .q6_K: return decodeBlocks(Q6_KBlock.self, src, count)
    }
}

private func decodeBlocks<B: QuantBlock>(_: B.Type, _ src: UnsafeRawPointer, _ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { out, initialised in
        for b in 0..<(count / B.blockSize) {
            B.decode(src + b * B.blockBytes, out.baseAddress! + b * B.blockSize)
        }
        initialised = count
    }
}
