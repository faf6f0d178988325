// Reading weights from a buffer of 32-bit words `uint W[]` (no 16-bit or 8-bit storage feature
// needed). Plain floats: `layout(constant_id = 0) const uint DTYPE` picks f32 (0), f16 (1) or
// bf16 (2) and offsets are in elements. GGUF block-quantised weights: the shader is built with
// `-DQTYPE=n` (see quant.glsl) and offsets are in bytes.
float loadWeight(uint e) {
    if (DTYPE == 0u) return uintBitsToFloat(W[e]);
    uint word = W[e >> 1];
    uint h = (e & 1u) != 0u ? (word >> 16) : (word & 0xffffu);
    if (DTYPE == 1u) return unpackHalf2x16(h).x;
    return uintBitsToFloat(h << 16);
}

#ifdef QTYPE
#include "quant.glsl"
#endif

// Element (row, col) of a row-major [rows, rowLen] weight matrix starting at `off`
// (elements for plain floats, bytes for quantised blocks; rowLen a whole number of blocks).
float weightAt(uint off, uint rowLen, uint row, uint col) {
#ifdef QTYPE
    uint rowBytes = (rowLen / QK) * QB;
    return dequantElement(off + row * rowBytes + (col / QK) * QB, col % QK);
#else
    return loadWeight(off + row * rowLen + col);
#endif
}
