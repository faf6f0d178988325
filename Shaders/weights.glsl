// Reading weights stored as f32, f16 or bf16 from a buffer of 32-bit words (no 16-bit storage
// feature needed). Expects `layout(constant_id = 0) const uint DTYPE` and a `uint W[]` buffer.
float loadWeight(uint e) {
    if (DTYPE == 0u) return uintBitsToFloat(W[e]);
    uint word = W[e >> 1];
    uint h = (e & 1u) != 0u ? (word >> 16) : (word & 0xffffu);
    if (DTYPE == 1u) return unpackHalf2x16(h).x;
    return uintBitsToFloat(h << 16);
}
